"""Animated GIF and MP4 files from matplotlib frames (``core/render.py`` draws them).

``draw(i)`` redraws frame ``i`` on the figure; the writers grab the canvas after each.
MP4 goes through imageio-ffmpeg when installed, else an ffmpeg binary on PATH.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg

GIF_COLORS = 48  # one palette for the whole GIF, from sampled frames


def mp4_backend() -> str | None:
    """'imageio' when imageio-ffmpeg is installed, 'matplotlib' when ffmpeg is on PATH."""
    try:
        import imageio_ffmpeg  # noqa: F401

        return "imageio"
    except ImportError:
        pass
    return "matplotlib" if shutil.which("ffmpeg") else None


def canvas_rgb(canvas: FigureCanvasAgg) -> np.ndarray:
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def write_gif(indices: list[int], draw, canvas, out_path: Path, fps: float) -> None:
    """Pillow GIF, loops forever. One palette for all frames (built from the first,
    middle and last frame) keeps colours steady and the file small."""
    from PIL import Image

    samples = []
    for i in sorted({indices[0], indices[len(indices) // 2], indices[-1]}):
        draw(i)
        canvas.draw()
        samples.append(canvas_rgb(canvas))
    palette = Image.fromarray(np.concatenate(samples, axis=0)).quantize(
        colors=GIF_COLORS, method=Image.Quantize.MEDIANCUT
    )
    images = []
    for i in indices:
        draw(i)
        canvas.draw()
        images.append(Image.fromarray(canvas_rgb(canvas)).quantize(palette=palette, dither=Image.Dither.NONE))
    # GIF stores centiseconds; most viewers play delays under 20 ms slowly
    duration = max(20, int(round(100.0 / fps)) * 10)
    images[0].save(out_path, save_all=True, append_images=images[1:], duration=duration, loop=0)


def write_mp4(indices: list[int], draw, fig, canvas, out_path: Path, fps: float, dpi: float) -> None:
    backend = mp4_backend()
    if backend is None:
        raise RuntimeError(
            "MP4 output needs the imageio-ffmpeg package (pip install imageio-ffmpeg) or an "
            "ffmpeg binary on PATH; neither was found. Render to .gif or .png instead."
        )
    if backend == "imageio":
        import imageio_ffmpeg

        writer = None
        for i in indices:
            draw(i)
            canvas.draw()
            rgb = canvas_rgb(canvas)
            rgb = rgb[: rgb.shape[0] // 2 * 2, : rgb.shape[1] // 2 * 2]  # yuv420p needs even sizes
            if writer is None:
                writer = imageio_ffmpeg.write_frames(
                    str(out_path),
                    (rgb.shape[1], rgb.shape[0]),
                    fps=fps,
                    codec="libx264",
                    pix_fmt_in="rgb24",
                    pix_fmt_out="yuv420p",
                    macro_block_size=1,
                    quality=7,
                    ffmpeg_log_level="error",
                )
                writer.send(None)
            writer.send(np.ascontiguousarray(rgb).tobytes())
        writer.close()
    else:
        from matplotlib.animation import FFMpegWriter

        writer = FFMpegWriter(fps=fps, codec="h264", extra_args=["-pix_fmt", "yuv420p"])
        with writer.saving(fig, str(out_path), dpi):
            for i in indices:
                draw(i)
                writer.grab_frame()
