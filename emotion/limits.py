"""Per-socket rate limits: pure, clock passed in, so they are testable without waiting."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    """Allows ``rate`` events per second on average with bursts of up to ``burst``."""

    rate: float
    burst: int
    tokens: float = -1.0
    updated: float | None = None

    def allow(self, now: float) -> bool:
        """Take one token at time ``now``; False (and nothing taken) when the bucket is empty."""
        if self.updated is None:
            self.tokens, self.updated = float(self.burst), now
        self.tokens = min(float(self.burst), self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


@dataclass
class ErrorWindow:
    """Counts a client's errors over a sliding window of ``seconds``."""

    limit: int
    seconds: float
    times: deque[float] = field(default_factory=deque)

    def record(self, now: float) -> bool:
        """Count one error at ``now``; True when the limit is reached within the window."""
        self.times.append(now)
        while self.times and self.times[0] <= now - self.seconds:
            self.times.popleft()
        return len(self.times) >= self.limit
