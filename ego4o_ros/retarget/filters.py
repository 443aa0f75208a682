"""Output conditioning: a smoothing filter with at most one frame of delay, and joint
velocity limits.

The smoother is the One Euro filter (Casiez et al., CHI 2012): an exponential filter
whose cut-off rises with the signal's speed, so slow motion is smoothed and fast motion
passes with little lag. An exponential filter ``y += alpha (x - y)`` trails a ramp by
``(1 - alpha) / alpha`` samples; alpha is kept >= 0.5, so the delay never exceeds one
frame whatever the settings (at 30 Hz the default minimum cut-off gives exactly that).
"""

from __future__ import annotations

import math

import numpy as np

MIN_ALPHA = 0.5  # (1 - alpha) / alpha <= 1 frame of lag


def smoothing_factor(cutoff_hz, dt: float) -> np.ndarray:
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff_hz, np.float64))
    return np.maximum(1.0 / (1.0 + tau / dt), MIN_ALPHA)


class OneEuroFilter:
    """Vector One Euro filter; ``min_cutoff`` in Hz, ``beta`` in Hz per (unit/s)."""

    def __init__(self, min_cutoff: float = 4.8, beta: float = 4.0, derivative_cutoff: float = 4.8):
        self.min_cutoff, self.beta, self.derivative_cutoff = min_cutoff, beta, derivative_cutoff
        self.reset()

    def reset(self) -> None:
        self.value: np.ndarray | None = None
        self.derivative: np.ndarray | None = None

    def __call__(self, x: np.ndarray, dt: float) -> np.ndarray:
        x = np.asarray(x, np.float64)
        if self.value is None or dt <= 0:
            self.value, self.derivative = x.copy(), np.zeros_like(x)
            return self.value.copy()
        raw_derivative = (x - self.value) / dt
        self.derivative += smoothing_factor(self.derivative_cutoff, dt) * (raw_derivative - self.derivative)
        alpha = smoothing_factor(self.min_cutoff + self.beta * np.abs(self.derivative), dt)
        self.value += alpha * (x - self.value)
        return self.value.copy()


def limit_velocity(q: np.ndarray, previous: np.ndarray | None, max_velocity: np.ndarray, dt: float) -> np.ndarray:
    """Move from ``previous`` towards ``q`` no faster than ``max_velocity`` (per second)."""
    if previous is None or dt <= 0:
        return q
    step = max_velocity * dt
    return previous + np.clip(q - previous, -step, step)
