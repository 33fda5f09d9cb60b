"""The /ws/mood/ websocket on the real ASGI app, analyzing with a real tiny model in-process."""

from __future__ import annotations

import contextlib
import json
import threading

import numpy as np
import pytest
from channels.testing import WebsocketCommunicator

from emotion.analyzer import analyzer_get
from emotion.messages import CLOSE_TOO_MANY_ERRORS
from musicmood.samples import TINY_MODEL_MOOD

# The consumer reads playlist mappings when a mood is announced.
pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://127.0.0.1:8000")
REPLY_TIMEOUT = 30  # the first frame may wait for the model to load


async def connect(path: str = "/ws/mood/", origin=ORIGIN) -> WebsocketCommunicator:
    from musicmood.asgi import application

    communicator = WebsocketCommunicator(application, path, headers=[origin])
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    return communicator


async def receive(
    communicator: WebsocketCommunicator, timeout: float = REPLY_TIMEOUT, *, playlists=False
) -> dict:
    """The next message; ``playlist`` messages (the player's business) are skipped unless asked."""
    while True:
        message = await communicator.receive_json_from(timeout=timeout)
        if playlists or message["type"] != "playlist":
            return message


async def expect_analysis(communicator, frame: bytes) -> dict:
    await communicator.send_to(bytes_data=frame)
    reply = await receive(communicator)
    assert reply["type"] == "analysis", reply
    return reply


@contextlib.contextmanager
def analysis_held(monkeypatch):
    """Holds every analysis at its detection step until the gate is set (or the block ends).

    So a test decides what happens while a frame is in analysis, whatever the machine's speed.
    """
    analyzer = analyzer_get()
    detect = analyzer.detector.detect
    gate = threading.Event()

    def held(image):
        gate.wait(REPLY_TIMEOUT)
        return detect(image)

    monkeypatch.setattr(analyzer.detector, "detect", held)
    try:
        yield gate
    finally:
        gate.set()  # never leave the process's analysis threads waiting


class SteeredRunner:
    """The real runner, with the age and p(female) of each call taken from ``estimates``.

    The tiny model's own age and gender do not change between frames of the same photo.
    """

    def __init__(self, runner, estimates: list[tuple[float, float]]) -> None:
        self.runner, self.name, self.input_shape = runner, runner.name, runner.input_shape
        self.estimates = iter(estimates)

    def predict(self, batch):
        out = self.runner.predict(batch)
        age, female = next(self.estimates)
        return {
            **out,
            "age": np.full_like(out["age"], age),
            "gender": np.full_like(out["gender"], female),
        }


async def test_a_socket_from_an_allowed_origin_gets_an_analysis_and_a_mood(inline, astronaut_jpeg):
    communicator = await connect()
    reply = await expect_analysis(communicator, astronaut_jpeg)
    assert reply["frame"] == 1
    assert (reply["width"], reply["height"]) == (512, 512)
    assert len(reply["faces"]) == 1
    face = reply["faces"][0]
    assert set(face) == {"box", "score", "emotion", "age", "age_band", "gender"}
    assert max(face["emotion"], key=face["emotion"].get) == TINY_MODEL_MOOD
    assert reply["ms"] > 0
    mood = await receive(communicator)
    assert mood["type"] == "mood"
    assert mood["mood"] == TINY_MODEL_MOOD
    assert mood["faces"] == 1
    assert mood["confidence"] > 0.5
    assert mood["age_band"] and mood["gender"] in ("female", "male")
    playlist = await receive(communicator, playlists=True)
    assert playlist["type"] == "playlist" and playlist["mood"] == TINY_MODEL_MOOD
    await communicator.disconnect()


async def test_a_socket_from_another_origin_is_refused(inline):
    from musicmood.asgi import application

    communicator = WebsocketCommunicator(
        application, "/ws/mood/", headers=[(b"origin", b"https://evil.example.com")]
    )
    connected, _ = await communicator.connect(timeout=5)
    assert not connected


async def test_oversized_frame_is_rejected_and_socket_stays_open(inline, astronaut_jpeg):
    inline.FRAME_MAX_BYTES = 1000
    communicator = await connect()
    await communicator.send_to(bytes_data=b"\xff\xd8\xff" + b"\0" * 2000)
    error = await receive(communicator)
    assert error["type"] == "error" and error["code"] == "frame_too_large"
    assert "1000" in error["message"]
    inline.FRAME_MAX_BYTES = 512 * 1024
    await expect_analysis(communicator, astronaut_jpeg)
    await communicator.disconnect()


async def test_bytes_that_are_not_an_image_are_rejected_and_socket_stays_open(
    inline, astronaut_jpeg
):
    communicator = await connect()
    await communicator.send_to(bytes_data=b"GIF89a not what we take")
    error = await receive(communicator)
    assert error["code"] == "not_an_image"
    # A JPEG signature on garbage passes the consumer's cheap check; the decoder refuses it.
    await communicator.send_to(bytes_data=b"\xff\xd8\xff\xe0" + b"garbage" * 50)
    error = await receive(communicator)
    assert error["type"] == "error" and error["code"] == "not_an_image"
    await expect_analysis(communicator, astronaut_jpeg)
    await communicator.disconnect()


async def test_a_jpeg_hiding_its_11000_pixel_size_is_refused_undecoded_and_socket_stays_open(
    inline, astronaut_jpeg, monkeypatch
):
    import cv2
    import numpy as np

    import ml.image

    flat = np.full((11000, 11000), 128, np.uint8)
    bomb = cv2.imencode(".jpg", flat, [cv2.IMWRITE_JPEG_QUALITY, 50])[1].tobytes()
    first_segment_end = 4 + int.from_bytes(bomb[4:6], "big")
    hidden = bomb[:first_segment_end] + b"\x00\x00" + bomb[first_segment_end:]
    inline.FRAME_MAX_BYTES = 2 * len(hidden)
    decoded_sizes = []
    real_imdecode = ml.image.cv2.imdecode

    def imdecode(buffer, flags):
        decoded_sizes.append(len(buffer))
        return real_imdecode(buffer, flags)

    monkeypatch.setattr(ml.image.cv2, "imdecode", imdecode)
    communicator = await connect()
    await communicator.send_to(bytes_data=hidden)
    error = await receive(communicator)
    assert error["type"] == "error" and error["code"] == "not_an_image", error
    assert "extraneous bytes" in error["message"]
    assert len(hidden) not in decoded_sizes  # refused before decoding
    await expect_analysis(communicator, astronaut_jpeg)
    await communicator.disconnect()


async def test_a_text_message_that_is_not_estimates_is_rejected_and_socket_stays_open(
    inline, astronaut_jpeg
):
    communicator = await connect()
    await communicator.send_to(text_data='{"demographics": false}')
    error = await receive(communicator)
    assert error["code"] == "invalid_estimates"
    await expect_analysis(communicator, astronaut_jpeg)
    await communicator.disconnect()


async def test_with_on_device_analysis_off_text_messages_are_not_allowed(inline, astronaut_jpeg):
    inline.ANALYSIS_ON_DEVICE = "off"
    communicator = await connect()
    await communicator.send_to(text_data=json.dumps(estimates()))
    error = await receive(communicator)
    assert error["code"] == "text_not_allowed"
    await expect_analysis(communicator, astronaut_jpeg)
    await communicator.disconnect()


def estimates(**face_changes) -> dict:
    """An on-device page's estimates for one 640x480 frame with one happy face."""
    face = {
        "box": [200, 120, 160, 180],
        "score": 0.97,
        "emotion": {"angry": 0.05, "happy": 0.8, "neutral": 0.1, "sad": 0.05},
        "age": 34.0,
        "female": 0.9,
        **face_changes,
    }
    return {"type": "estimates", "width": 640, "height": 480, "faces": [face]}


async def test_on_device_estimates_get_an_analysis_a_mood_and_its_music(inline):
    communicator = await connect()
    await communicator.send_to(text_data=json.dumps(estimates()))
    analysis = await receive(communicator)
    mood = await receive(communicator)

    assert analysis["type"] == "analysis" and analysis["frame"] == 1
    (face,) = analysis["faces"]
    assert face["box"] == [200, 120, 160, 180] and face["emotion"]["happy"] == 0.8
    assert (face["age_band"], face["gender"]) == ("young_adult", {"female": 0.9})
    assert mood["type"] == "mood"  # the same smoothing as a frame analyzed here
    assert (mood["age_band"], mood["gender"]) == ("young_adult", "female")
    await communicator.disconnect()


HOSTILE_ESTIMATES = {
    "bad JSON": "{not json",
    "wrong type": json.dumps({**estimates(), "type": "frame"}),
    "a string for a number": json.dumps(estimates(score="0.9")),
    "NaN": json.dumps(estimates()).replace('"score": 0.97', '"score": NaN'),
    "not summing to 1": json.dumps(
        estimates(emotion={"angry": 0.5, "happy": 0.8, "neutral": 0.1, "sad": 0.05})
    ),
    "a mood missing": json.dumps(estimates(emotion={"angry": 0.2, "happy": 0.8})),
    "1000 faces": json.dumps({**estimates(), "faces": estimates()["faces"] * 1000}),
    "a huge string": json.dumps({**estimates(), "note": "x" * 100_000}),
    "a box outside the frame": json.dumps(estimates(box=[600, 400, 160, 180])),
    "an extra key": json.dumps(estimates(name="Ann")),
}


@pytest.mark.parametrize("case", HOSTILE_ESTIMATES)
async def test_hostile_estimates_get_an_error_code_and_the_socket_stays_open(inline, case):
    communicator = await connect()
    await communicator.send_to(text_data=HOSTILE_ESTIMATES[case])
    error = await receive(communicator)
    await communicator.send_to(text_data=json.dumps(estimates()))
    after = await receive(communicator)

    expected = (
        "estimates_too_large" if case in ("1000 faces", "a huge string") else ("invalid_estimates")
    )
    assert (error["type"], error["code"]) == ("error", expected), error
    assert after["type"] == "analysis"  # still served
    await communicator.disconnect()


async def test_a_flood_of_estimates_is_rate_limited_like_frames(inline):
    inline.FRAME_RATE_PER_SECOND = 0.1
    inline.FRAME_RATE_BURST = 2
    communicator = await connect()
    codes = []
    for _ in range(4):
        await communicator.send_to(text_data=json.dumps(estimates()))
        while (message := await receive(communicator))["type"] not in ("analysis", "error"):
            pass
        codes.append(message.get("code", message["type"]))
    assert codes == ["analysis", "analysis", "rate_limited", "rate_limited"]
    await communicator.disconnect()


async def test_an_on_device_only_server_refuses_frames(inline, astronaut_jpeg):
    inline.ANALYSIS_ON_DEVICE = "only"
    communicator = await connect()
    await communicator.send_to(bytes_data=astronaut_jpeg)
    error = await receive(communicator)
    await communicator.send_to(text_data=json.dumps(estimates()))
    after = await receive(communicator)
    assert error["code"] == "frames_not_accepted"
    assert after["type"] == "analysis"
    await communicator.disconnect()


async def test_a_frame_sent_during_analysis_is_dropped_not_queued(
    inline, astronaut_jpeg, monkeypatch
):
    communicator = await connect()
    await expect_analysis(communicator, astronaut_jpeg)  # model loaded
    await receive(communicator)  # the mood
    with analysis_held(monkeypatch) as gate:
        await communicator.send_to(bytes_data=astronaut_jpeg)
        await communicator.send_to(bytes_data=astronaut_jpeg)
        first = await receive(communicator)
        gate.set()
        second = await receive(communicator)
    assert first == {**first, "type": "error", "code": "busy"}
    assert second["type"] == "analysis" and second["frame"] == 2
    assert await communicator.receive_nothing(timeout=0.5)  # the dropped frame never comes
    await communicator.disconnect()


async def test_frames_beyond_the_rate_limit_are_refused(inline, astronaut_jpeg):
    inline.FRAME_RATE_PER_SECOND = 0.1
    inline.FRAME_RATE_BURST = 2
    communicator = await connect()
    await expect_analysis(communicator, astronaut_jpeg)
    await receive(communicator)  # the mood
    await expect_analysis(communicator, astronaut_jpeg)
    await communicator.send_to(bytes_data=astronaut_jpeg)
    error = await receive(communicator)
    assert error["code"] == "rate_limited"
    await communicator.disconnect()


async def test_sustained_abuse_closes_the_socket_with_the_documented_code(inline):
    inline.WS_MAX_ERRORS = 5
    communicator = await connect()
    codes = []
    for _ in range(5):
        await communicator.send_to(text_data="hello")
        codes.append((await receive(communicator, timeout=5))["code"])
    assert codes == ["invalid_estimates"] * 5
    final = await receive(communicator, timeout=5)
    assert final["code"] == "too_many_errors"
    closed = await communicator.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": CLOSE_TOO_MANY_ERRORS}


async def test_an_analysis_that_raises_gives_an_error_and_the_consumer_survives(
    inline, astronaut_jpeg, monkeypatch
):
    communicator = await connect()
    await expect_analysis(communicator, astronaut_jpeg)
    analyzer = analyzer_get()

    def broken_detector(image):
        raise RuntimeError("detector crashed")

    monkeypatch.setattr(analyzer.detector, "detect", broken_detector)
    await communicator.send_to(bytes_data=astronaut_jpeg)
    messages = [await receive(communicator), await receive(communicator)]
    error = next(m for m in messages if m["type"] == "error")
    assert error["code"] == "analysis_failed"
    assert "crashed" not in error["message"]  # no internals sent to the browser
    monkeypatch.undo()
    await expect_analysis(communicator, astronaut_jpeg)
    await communicator.disconnect()


async def test_an_analysis_slower_than_the_timeout_gives_an_error_and_the_next_frame_works(
    inline, astronaut_jpeg, monkeypatch
):
    communicator = await connect()
    await expect_analysis(communicator, astronaut_jpeg)
    await receive(communicator)  # the mood
    inline.ANALYSIS_TIMEOUT_SECONDS = 0.05
    with analysis_held(monkeypatch) as gate:
        await communicator.send_to(bytes_data=astronaut_jpeg)
        error = await receive(communicator)
        gate.set()
    assert error["code"] == "analysis_timeout"
    assert await communicator.receive_nothing(timeout=1.0)  # the late result is dropped
    inline.ANALYSIS_TIMEOUT_SECONDS = 30.0
    reply = await expect_analysis(communicator, astronaut_jpeg)
    assert reply["frame"] == 3
    await communicator.disconnect()


async def test_a_missing_model_says_analysis_is_unavailable_and_socket_stays_open(inline, tmp_path):
    inline.MUSICMOOD_MODEL = str(tmp_path / "no-model-here")
    communicator = await connect()
    await communicator.send_to(bytes_data=b"\xff\xd8\xff\xe0 a frame")
    error = await receive(communicator, timeout=5)
    assert error["type"] == "error" and error["code"] == "model_unavailable"
    await communicator.send_to(bytes_data=b"\xff\xd8\xff\xe0 a frame")
    assert (await receive(communicator, timeout=5))["code"] == "model_unavailable"
    await communicator.disconnect()


async def test_with_demographics_switched_off_no_age_or_gender_is_sent(inline, astronaut_jpeg):
    communicator = await connect("/ws/mood/?demographics=0")
    reply = await expect_analysis(communicator, astronaut_jpeg)
    face = reply["faces"][0]
    assert face["age"] is None and face["age_band"] is None and face["gender"] is None
    assert face["emotion"]
    mood = await receive(communicator)
    assert mood["mood"] == TINY_MODEL_MOOD
    assert mood["age_band"] is None and mood["gender"] is None
    await communicator.disconnect()


async def test_with_demographics_off_a_new_age_band_sends_no_repeated_mood_and_no_music(
    inline, astronaut_jpeg, monkeypatch
):
    analyzer = analyzer_get()
    monkeypatch.setattr(analyzer, "runner", SteeredRunner(analyzer.runner, [(20, 0.9), (80, 0.9)]))
    communicator = await connect("/ws/mood/?demographics=0")
    await expect_analysis(communicator, astronaut_jpeg)
    mood = await receive(communicator)
    assert (mood["type"], mood["mood"], mood["age_band"]) == ("mood", TINY_MODEL_MOOD, None)
    assert (await receive(communicator, playlists=True))["type"] == "playlist"
    await expect_analysis(communicator, astronaut_jpeg)  # smoothed age 50: another age band
    assert await communicator.receive_nothing(timeout=1.0)  # no mood again, no playlist lookup
    await communicator.disconnect()


async def test_with_demographics_on_a_new_age_band_is_announced_with_its_music(
    inline, astronaut_jpeg, monkeypatch
):
    analyzer = analyzer_get()
    monkeypatch.setattr(analyzer, "runner", SteeredRunner(analyzer.runner, [(20, 0.9), (80, 0.9)]))
    communicator = await connect()
    await expect_analysis(communicator, astronaut_jpeg)
    assert (await receive(communicator))["age_band"] == "young_adult"
    assert (await receive(communicator, playlists=True))["type"] == "playlist"
    await expect_analysis(communicator, astronaut_jpeg)
    mood = await receive(communicator)
    assert (mood["type"], mood["mood"], mood["age_band"]) == ("mood", TINY_MODEL_MOOD, "adult")
    assert (await receive(communicator, playlists=True))["type"] == "playlist"
    await communicator.disconnect()
