"""The learning-rate schedule every training run uses: linear warm-up, then cosine to zero."""

from __future__ import annotations

import math


def learning_rate(step: int, base: float, warmup: int, total: int) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    return base * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))
