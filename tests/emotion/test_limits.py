"""Per-socket limits: replayed timestamps, no clock."""

from __future__ import annotations

from emotion.limits import ErrorWindow, TokenBucket


def test_a_full_bucket_allows_a_burst_then_refuses():
    bucket = TokenBucket(rate=2.0, burst=3)
    assert [bucket.allow(10.0) for _ in range(4)] == [True, True, True, False]


def test_the_bucket_refills_at_its_rate_and_never_beyond_its_burst():
    bucket = TokenBucket(rate=2.0, burst=3)
    for _ in range(3):
        bucket.allow(0.0)
    assert not bucket.allow(0.2)  # 0.4 of a token
    assert bucket.allow(0.5)  # one token after half a second
    assert not bucket.allow(0.5)
    assert [bucket.allow(100.0) for _ in range(4)] == [True, True, True, False]


def test_a_refused_event_takes_no_token():
    bucket = TokenBucket(rate=1.0, burst=1)
    assert bucket.allow(0.0)
    assert not bucket.allow(0.5)
    assert bucket.allow(1.0)  # the refusal at 0.5 s did not push the refill back


def test_the_error_window_trips_at_its_limit_within_the_window():
    window = ErrorWindow(limit=3, seconds=10.0)
    assert [window.record(t) for t in (0.0, 1.0, 2.0)] == [False, False, True]


def test_errors_older_than_the_window_are_forgotten():
    window = ErrorWindow(limit=3, seconds=10.0)
    window.record(0.0)
    window.record(1.0)
    assert not window.record(10.5)  # the error at 0.0 is out of the window
    assert window.record(10.9)
    assert not ErrorWindow(limit=2, seconds=1.0).record(5.0)
