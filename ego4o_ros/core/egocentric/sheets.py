"""Pictures for people: a row of head-camera views under a third-person strip, and contact
sheets (a grid of frames, one labelled row per sequence)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def add_view_row(strip: np.ndarray, views: np.ndarray, label: str = "head camera") -> np.ndarray:
    """A third-person strip image (H, W, 3) with a row of egocentric ``views`` (N, h, w, 3)
    below it, one under each of its N columns, enlarged (nearest neighbour) to the column width."""
    from PIL import Image, ImageDraw

    strip = np.asarray(strip)[..., :3]
    column = strip.shape[1] // len(views)
    scale = max(1, column // views.shape[2])
    size = views.shape[2] * scale
    row = Image.new("RGB", (strip.shape[1], size + 18), "white")
    for i, view in enumerate(views):
        tile = Image.fromarray(view).resize((size, views.shape[1] * scale), Image.NEAREST)
        row.paste(tile, (i * column + (column - size) // 2, 16))
    ImageDraw.Draw(row).text((4, 2), label, fill=(40, 40, 40))
    return np.concatenate([strip, np.asarray(row)], axis=0)


def contact_sheet(
    rows: Sequence[np.ndarray], labels: Sequence[str] | None = None, path: str | Path | None = None, scale: int = 2
) -> np.ndarray:
    """A grid of frames, one row per sequence (each (N, H, W, 3) uint8), a label left of each
    row; enlarged ``scale`` times (nearest neighbour: the pixels the model sees). Written as
    a PNG to ``path`` when given; returns the image (H, W, 3) uint8."""
    from PIL import Image, ImageDraw

    gap, label_w = 4, (80 if labels else 0)
    tiles = [
        [Image.fromarray(f).resize((f.shape[1] * scale, f.shape[0] * scale), Image.NEAREST) for f in r] for r in rows
    ]
    th = max(t.height for r in tiles for t in r)
    tw = max(t.width for r in tiles for t in r)
    cols = max(len(r) for r in tiles)
    sheet = Image.new("RGB", (label_w + cols * (tw + gap) + gap, len(tiles) * (th + gap) + gap), "white")
    draw = ImageDraw.Draw(sheet)
    for i, row in enumerate(tiles):
        y = gap + i * (th + gap)
        if labels:
            draw.text((6, y + th // 2 - 6), str(labels[i]), fill="black")
        for k, tile in enumerate(row):
            sheet.paste(tile, (label_w + gap + k * (tw + gap), y))
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        sheet.save(buffer, format="PNG", optimize=True)
        Path(path).write_bytes(buffer.getvalue())
    return np.asarray(sheet)
