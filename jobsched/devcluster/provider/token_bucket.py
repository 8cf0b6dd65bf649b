"""A token bucket over an injected clock: the launch-rate limit serverless providers document.

AWS Fargate and Alibaba ECI throttle pod launches with a token bucket (a sustained rate and a burst).
The bucket starts full; tokens refill continuously at `rate` per second up to `burst`. Pure: the
caller passes the time, so the provider simulator and its unit tests share it.
"""

from __future__ import annotations


class TokenBucket:
    def __init__(self, rate: float, burst: int, now: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"token bucket needs rate > 0 and burst >= 1, not {rate}/{burst}")
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._stamp = now

    def tokens(self, now: float) -> float:
        """Tokens available at now (fractional: 0.5 means half-way to the next one)."""
        elapsed = max(0.0, now - self._stamp)
        return min(float(self.burst), self._tokens + elapsed * self.rate)

    def wait_s(self, now: float) -> float:
        """Seconds from now until a whole token is available (0 if one is)."""
        missing = 1.0 - self.tokens(now)
        return missing / self.rate if missing > 1e-9 else 0.0

    def take(self, now: float) -> None:
        """Spends one token; the caller has checked wait_s(now) == 0."""
        tokens = self.tokens(now)
        if tokens < 1.0 - 1e-9:
            raise RuntimeError(f"no token at {now}: {tokens:.3f} available")
        self._tokens = max(0.0, tokens - 1.0)
        self._stamp = max(now, self._stamp)
