"""Retry delays: exponential backoff with jitter (pure; the random source is an input)."""

from __future__ import annotations

import random

MAX_DELAY_SECONDS = 3600.0


def backoff_delay(
    attempt: int, base_seconds: float, rng: random.Random, cap: float = MAX_DELAY_SECONDS
) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based) before the next one.

    "Equal jitter": half of ``base * 2**(attempt-1)`` is fixed, the other half random, so retries
    of many jobs that failed together (an SMTP outage) spread out instead of hammering in step,
    while each retry still waits at least half the exponential delay.
    """
    if attempt < 1:
        raise ValueError("attempt is 1-based")
    exponential = min(cap, base_seconds * (2.0 ** min(attempt - 1, 62)))
    half = exponential / 2.0
    return half + rng.uniform(0.0, half)
