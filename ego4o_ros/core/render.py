"""Render SMPL-22 skeleton sequences to an animated GIF / MP4 or a PNG strip.

Input: one or more sequences of joint positions, each ``(T, 22, 3)`` in metres in the
body frame (see ``frames.py``: Y up, the body faces +Z at rest, +X is the body's left).

* ``render_sequences([truth, pred], "clip.gif", titles=["truth", "pred"])``: the
  sequences side by side, one 3-D panel each, with one camera and one extent shared
  by all panels so they compare directly; ``overlay=True`` draws them in one panel
  instead, one colour per sequence, with a legend.
* The output kind follows the extension: ``.gif`` (Pillow, loops forever), ``.mp4``
  (``imageio-ffmpeg`` when installed, else matplotlib's ffmpeg writer when an
  ``ffmpeg`` binary is on PATH, else a clear error) or ``.png``: a strip of
  ``strip_frames`` evenly spaced frames, rows = sequences, columns = time, the
  quick-look format.

Drawing: bones are coloured by body part (left side blue, right side red, spine and
head dark grey; arms a lighter shade than legs), the floor is a grid at the lowest
joint height over all sequences, the camera follows the root horizontally with a fixed
extent and keeps a fixed 3/4 front view, and a short trail shows where the root has
been. The figure is a plain ``matplotlib.figure.Figure`` on an Agg canvas: nothing
touches pyplot's global state or the process-wide backend.

Screen orientation: body ``(x, y, z)`` is drawn at matplotlib's ``(x, -z, y)``, a
proper rotation (no mirror image) that puts the body's up on the screen's up.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from . import body, video

SUPPORTED_EXTENSIONS = (".gif", ".mp4", ".png")

# Part colours (left = blue family, right = red family, spine/head = dark grey).
PART_COLORS = {
    "spine": "#3a3a3a",
    "left_leg": "#1f4e9c",
    "left_arm": "#4a90e2",
    "right_leg": "#b71c1c",
    "right_arm": "#f0604d",
}
# One base colour per sequence in overlay mode.
OVERLAY_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
TRAIL_COLOR = "#808080"
STRIP_LEGEND_BAND = 0.25  # inches below the PNG strip's panels for the colour key
FLOOR_COLOR = "#e9e9e9"
GRID_COLOR = "#b8b8b8"


def _chain_part(chain: Sequence[int]) -> str:
    """Part name of a kinematic chain, from the joint it ends at."""
    end = chain[-1]
    for part in ("left_leg", "left_arm", "right_leg", "right_arm"):
        if end in body.BODY_PARTS[part]:
            return part
    return "spine"


CHAIN_PARTS = tuple(_chain_part(c) for c in body.KINEMATIC_CHAINS)


# ---------------------------------------------------------------- inputs and options


def _as_sequences(sequences) -> list[np.ndarray]:
    if isinstance(sequences, np.ndarray) and sequences.ndim == 3:
        sequences = [sequences]
    if isinstance(sequences, (str, bytes)) or not isinstance(sequences, Iterable):
        raise TypeError("sequences must be a list of (T, 22, 3) arrays")
    out = []
    for k, seq in enumerate(sequences):
        a = np.asarray(seq, dtype=np.float64)
        if a.ndim != 3 or a.shape[1:] != (body.NUM_JOINTS, 3):
            raise ValueError(
                f"sequence {k} has shape {a.shape}; expected (T, {body.NUM_JOINTS}, 3) joint positions in metres"
            )
        if a.shape[0] < 1:
            raise ValueError(f"sequence {k} has no frames")
        if not np.all(np.isfinite(a)):
            bad = np.unique(np.nonzero(~np.isfinite(a))[0])
            raise ValueError(f"sequence {k} has NaN/inf values in {len(bad)} frame(s), first at frame {bad[0]}")
        out.append(a)
    if not out:
        raise ValueError("no sequences to render")
    return out


def _to_plot(joints: np.ndarray) -> np.ndarray:
    """Body (x, y, z) -> matplotlib (x, -z, y): a proper rotation with Y on screen-up."""
    return np.stack([joints[..., 0], -joints[..., 2], joints[..., 1]], axis=-1)


def _lighten(color: str, amount: float) -> tuple[float, float, float]:
    """amount > 0 mixes towards white, amount < 0 towards black."""
    rgb = np.array(to_rgb(color))
    return tuple(rgb + (1.0 - rgb) * amount) if amount >= 0 else tuple(rgb * (1.0 + amount))


@dataclass
class _Style:
    overlay: bool
    elev: float
    azim: float  # matplotlib azimuth (degrees)
    linewidth: float
    marker_size: float
    trail: int
    grid_spacing: float
    show_floor: bool
    zoom: float
    focal_length: float
    floor_fraction: float = 0.95


# ---------------------------------------------------------------- one 3-D panel


class _Panel:
    """One 3-D axes drawing one or more sequences; ``update(i)`` moves every artist."""

    def __init__(
        self,
        ax,
        seqs: list[np.ndarray],
        seq_ids: list[int],
        targets: np.ndarray,
        radius: float,
        floor: float,
        z_centre: float,
        style: _Style,
    ):
        self.ax, self.seqs, self.targets, self.r, self.floor, self.style = ax, seqs, targets, radius, floor, style
        self.zc = z_centre
        ax.set_proj_type("persp", focal_length=style.focal_length)
        ax.view_init(elev=style.elev, azim=style.azim)
        ax.set_box_aspect((1, 1, 1), zoom=style.zoom)
        ax.set_axis_off()
        ax.computed_zorder = False  # we sort the bones by depth ourselves
        e, a = np.radians(style.elev), np.radians(style.azim)
        self.view_dir = np.array([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)])

        n_grid = int(math.floor(2 * radius / style.grid_spacing)) + 2
        self.floor_r = style.floor_fraction * radius  # the floor is a disc around the target
        self.floor_poly = None
        if style.show_floor:
            from mpl_toolkits.mplot3d.art3d import Poly3DCollection

            self.floor_poly = Poly3DCollection(
                [np.zeros((4, 3))], facecolor=FLOOR_COLOR, edgecolor="none", alpha=0.7, zorder=0
            )
            ax.add_collection3d(self.floor_poly)
        self.circle = np.stack([np.cos(np.linspace(0, 2 * np.pi, 65)), np.sin(np.linspace(0, 2 * np.pi, 65))], -1)
        n_grid = n_grid if style.show_floor else 0
        self.grid_x = [ax.plot([], [], [], color=GRID_COLOR, lw=0.6, zorder=1)[0] for _ in range(n_grid)]
        self.grid_y = [ax.plot([], [], [], color=GRID_COLOR, lw=0.6, zorder=1)[0] for _ in range(n_grid)]

        ax.autoscale(False)
        self.trails, self.chains = [], []  # chains: list of (seq index, chain joints, Line3D)
        for k, (_seq, sid) in enumerate(zip(seqs, seq_ids)):
            base = OVERLAY_COLORS[sid % len(OVERLAY_COLORS)] if style.overlay else None
            trail_color = base if style.overlay else TRAIL_COLOR
            self.trails.append(ax.plot([], [], [], color=trail_color, lw=1.2, alpha=0.8, zorder=2)[0])
            for chain, part in zip(body.KINEMATIC_CHAINS, CHAIN_PARTS):
                if style.overlay:  # one hue per sequence; left lighter, right darker
                    color = {
                        "spine": base,
                        "left_leg": _lighten(base, 0.35),
                        "left_arm": _lighten(base, 0.5),
                        "right_leg": _lighten(base, -0.35),
                        "right_arm": _lighten(base, -0.2),
                    }[part]
                else:
                    color = PART_COLORS[part]
                line = ax.plot(
                    [],
                    [],
                    [],
                    color=color,
                    lw=style.linewidth,
                    marker="o",
                    markersize=style.marker_size,
                    solid_capstyle="round",
                    zorder=3,
                )[0]
                self.chains.append((k, np.array(chain), line))

    def update(self, i: int) -> None:
        ax, r, floor, s = self.ax, self.r, self.floor, self.style
        cx, cy = self.targets[i]
        ax.set_xlim(cx - r, cx + r)
        ax.set_ylim(cy - r, cy + r)
        ax.set_zlim(self.zc - r, self.zc + r)
        fr = self.floor_r
        if self.floor_poly is not None:
            disc = np.column_stack(
                [cx + fr * self.circle[:, 0], cy + fr * self.circle[:, 1], np.full(len(self.circle), floor)]
            )
            self.floor_poly.set_verts([disc])
        sp = s.grid_spacing
        for lines, c0, c1 in ((self.grid_x, cx, cy), (self.grid_y, cy, cx)):
            start = math.ceil((c0 - fr) / sp - 1e-9) * sp
            for n, line in enumerate(lines):
                v = start + n * sp
                half = math.sqrt(max(fr * fr - (v - c0) ** 2, 0.0))  # chord of the disc
                if v > c0 + fr or half <= 0:
                    line.set_data_3d([], [], [])
                elif lines is self.grid_x:
                    line.set_data_3d([v, v], [c1 - half, c1 + half], [floor, floor])
                else:
                    line.set_data_3d([c1 - half, c1 + half], [v, v], [floor, floor])
        for seq, trail in zip(self.seqs, self.trails):
            past = seq[max(0, i - s.trail) if s.trail else i : i + 1, 0, :2].copy()
            past[np.hypot(past[:, 0] - cx, past[:, 1] - cy) > fr] = np.nan  # keep it on the floor disc
            trail.set_data_3d(past[:, 0], past[:, 1], np.full(len(past), floor))
        depths = []
        for k, chain, line in self.chains:
            p = self.seqs[k][i, chain]
            line.set_data_3d(p[:, 0], p[:, 1], p[:, 2])
            depths.append(float((p @ self.view_dir).mean()))
        for rank, idx in enumerate(np.argsort(depths)):  # far first, near last
            self.chains[idx][2].set_zorder(3 + 0.01 * rank)


# ---------------------------------------------------------------- camera and extent


def _targets(plot_seqs: list[np.ndarray], follow: str, groups: list[list[int]]) -> list[np.ndarray]:
    """Per panel, the camera target (T, 2) in the plot's horizontal plane."""
    if follow == "root":
        return [np.mean([plot_seqs[k][:, 0, :2] for k in g], axis=0) for g in groups]
    if follow == "first":
        return [plot_seqs[0][:, 0, :2] for _ in groups]
    allp = np.concatenate([s[..., :2].reshape(-1, 2) for s in plot_seqs])
    centre = (allp.min(0) + allp.max(0)) / 2
    return [np.broadcast_to(centre, plot_seqs[0].shape[:1] + (2,)) for _ in groups]


def _extent(plot_seqs, targets, groups, floor: float, margin: float = 1.12) -> tuple[float, float]:
    """Half-size of the (cubic) view and the height of its centre: the body fills it."""
    height = max(float(s[..., 2].max()) for s in plot_seqs) - floor
    horiz = 0.0
    for g, t in zip(groups, targets):
        for k in g:
            horiz = max(horiz, float(np.abs(plot_seqs[k][..., :2] - t[:, None, :]).max()))
    radius = max(height / 2, horiz, 0.5) * margin
    return radius, floor + 0.5 * height


# ---------------------------------------------------------------- writers


# ---------------------------------------------------------------- public API


def render_sequences(
    sequences: list[np.ndarray],
    out_path,
    titles: Sequence[str] | None = None,
    fps: float = 30.0,
    every: int = 1,
    *,
    overlay: bool = False,
    strip_frames: int = 8,
    panel_size: float = 3.5,
    dpi: float | None = None,
    elev: float = 12.0,
    azim: float = 35.0,
    follow: str = "root",
    trail: float = 1.0,
    floor: float | None = None,
    grid_spacing: float = 0.5,
    show_floor: bool = True,
    linewidth: float = 2.5,
    marker_size: float = 3.0,
    legend: bool = True,
    suptitle: str | None = None,
    zoom: float = 1.4,
    focal_length: float = 1.5,
) -> Path:
    """Render SMPL-22 joint sequences to ``out_path`` (.gif, .mp4 or .png strip).

    sequences: list of (T, 22, 3) arrays (metres, body frame: Y up, faces +Z, +X =
        left); a single (T, 22, 3) array is accepted too. Sequences of different
        lengths are cut to the shortest, with a warning.
    titles: one per sequence (panel titles, overlay legend, strip row labels).
    fps: frame rate of the input sequences (Hz); the animation plays in real time.
    every: draw every n-th frame (the animation then runs at fps / every and has
        ceil(T / every) frames). Not used by the PNG strip.
    overlay: draw all sequences in one panel (one colour each, with a legend) instead
        of side by side.
    strip_frames: columns of the PNG strip (evenly spaced frames, first and last
        included; fewer if the sequence is shorter).
    panel_size: inches per panel (square); dpi: defaults to 80 (GIF, PNG) / 100 (MP4).
    elev, azim: camera elevation above the floor and azimuth about the vertical, in
        degrees; azim is measured from the body's front (+Z) towards its left (+X):
        0 = straight front view, 90 = from the body's left side. The default is a
        3/4 front view from the front-left.
    follow: "root" (each panel's camera follows its root horizontally; overlay: the
        mean of the roots), "first" (every panel follows the first sequence's root,
        so drift of the others shows) or "none" (a fixed view of everything).
    trail: seconds of root trajectory drawn on the floor (0 = none).
    floor: floor height (body Y); default the lowest joint over all sequences.
    grid_spacing: floor grid spacing (m); show_floor: draw the floor disc and grid.
    linewidth, marker_size: bones and joints. legend: draw a colour key (body parts,
        or the sequences when overlaid). suptitle: text before the frame counter
        (animations) or in the top-right corner (strip).
    zoom, focal_length: matplotlib's 3-D box zoom and perspective focal length.
    Returns the output path.
    """
    out_path = Path(out_path)
    ext = out_path.suffix.lower()
    if ext not in SUPPORTED_EXTENSIONS:
        raise ValueError(
            f"unsupported output extension {out_path.suffix!r} for {out_path}; "
            f"use one of {', '.join(SUPPORTED_EXTENSIONS)}"
        )
    seqs = _as_sequences(sequences)
    n = len(seqs)
    if titles is None:
        titles = [f"sequence {k}" for k in range(n)] if n > 1 else [""]
    titles = [str(t) for t in titles]
    if len(titles) != n:
        raise ValueError(f"got {len(titles)} titles for {n} sequences")
    if not (isinstance(every, (int, np.integer)) and every >= 1):
        raise ValueError(f"every must be a positive integer, got {every!r}")
    if not (np.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be positive, got {fps!r}")
    if not (isinstance(strip_frames, (int, np.integer)) and strip_frames >= 1):
        raise ValueError(f"strip_frames must be a positive integer, got {strip_frames!r}")
    if follow not in ("root", "first", "none"):
        raise ValueError(f"follow must be 'root', 'first' or 'none', got {follow!r}")
    if grid_spacing <= 0 or panel_size <= 0 or trail < 0:
        raise ValueError("grid_spacing and panel_size must be positive, trail non-negative")
    lengths = [len(s) for s in seqs]
    T = min(lengths)
    if len(set(lengths)) > 1:
        warnings.warn(
            f"sequences have different lengths {lengths}; rendering the first {T} frames of each", stacklevel=2
        )
    seqs = [s[:T] for s in seqs]

    plot_seqs = [_to_plot(s) for s in seqs]
    floor_h = float(min(s[..., 2].min() for s in plot_seqs)) if floor is None else float(floor)
    groups = [list(range(n))] if overlay else [[k] for k in range(n)]
    targets = _targets(plot_seqs, follow, groups)
    radius, z_centre = _extent(plot_seqs, targets, groups, floor_h)
    style = _Style(
        overlay=overlay,
        elev=elev,
        azim=azim - 90.0,
        linewidth=linewidth,
        marker_size=marker_size,
        trail=int(round(trail * fps)),
        grid_spacing=grid_spacing,
        show_floor=show_floor,
        zoom=zoom,
        focal_length=focal_length,
    )
    if dpi is None:
        dpi = 100.0 if ext == ".mp4" else 80.0
    out_path.parent.mkdir(parents=True, exist_ok=True)

    if ext == ".png":
        _render_strip(
            plot_seqs,
            groups,
            titles,
            targets,
            radius,
            floor_h,
            z_centre,
            style,
            out_path,
            fps,
            strip_frames,
            panel_size,
            dpi,
            legend,
            suptitle,
        )
        return out_path

    # Animation: one row of panels, a title band on top and a legend band below.
    show_titles = not overlay and any(titles)
    top, bottom = (0.45 if show_titles else 0.28), (0.22 if legend else 0.0)
    width, height = panel_size * len(groups), panel_size + top + bottom
    fig = Figure(figsize=(width, height), dpi=dpi)
    canvas = FigureCanvasAgg(fig)
    panels = []
    for p, g in enumerate(groups):
        ax = fig.add_axes((p / len(groups), bottom / height, 1 / len(groups), panel_size / height), projection="3d")
        panels.append(_Panel(ax, [plot_seqs[k] for k in g], g, targets[p], radius, floor_h, z_centre, style))
        if show_titles:
            fig.text(
                (p + 0.5) / len(groups),
                (bottom + panel_size) / height,
                titles[g[0]],
                ha="center",
                va="bottom",
                fontsize=9,
                fontweight="bold",
            )
    _legend(fig, titles, overlay, legend, fontsize=7.5)
    head = fig.text(0.5, 1 - 0.04 / height, "", ha="center", va="top", fontsize=9)
    prefix = f"{suptitle}   " if suptitle else ""

    def draw(i: int) -> None:
        for panel in panels:
            panel.update(i)
        head.set_text(f"{prefix}frame {i + 1}/{T}   t = {i / fps:.2f} s")

    indices = list(range(0, T, every))
    if ext == ".gif":
        video.write_gif(indices, draw, canvas, out_path, fps / every)
    else:
        video.write_mp4(indices, draw, fig, canvas, out_path, fps / every, dpi)
    return out_path


def strip_indices(num_frames: int, strip_frames: int = 8) -> np.ndarray:
    """Frame indices of a PNG strip: evenly spaced, first and last included."""
    return np.unique(np.round(np.linspace(0, num_frames - 1, min(strip_frames, num_frames))).astype(int))


def _render_strip(
    plot_seqs,
    groups,
    titles,
    targets,
    radius,
    floor_h,
    z_centre,
    style,
    out_path,
    fps,
    strip_frames,
    panel_size,
    dpi,
    legend,
    suptitle,
) -> None:
    T = len(plot_seqs[0])
    cols = strip_indices(T, strip_frames)
    rows = len(groups)
    bottom = STRIP_LEGEND_BAND if legend else 0.0
    height = panel_size * rows + bottom
    fig = Figure(figsize=(panel_size * len(cols), height), dpi=dpi)
    canvas = FigureCanvasAgg(fig)
    ph = panel_size / height
    for r, g in enumerate(groups):
        for c, i in enumerate(cols):
            ax = fig.add_axes((c / len(cols), 1 - (r + 1) * ph, 1 / len(cols), ph), projection="3d")
            panel = _Panel(ax, [plot_seqs[k] for k in g], g, targets[r], radius, floor_h, z_centre, style)
            panel.update(int(i))
            label = f"frame {i + 1}   t = {i / fps:.2f} s"
            ax.text2D(0.5, 0.99, label, transform=ax.transAxes, ha="center", va="top", fontsize=8)
            if c == 0:
                name = titles[g[0]] if not style.overlay else (suptitle or "")
                if name:
                    ax.text2D(
                        0.02, 0.92, name, transform=ax.transAxes, ha="left", va="top", fontsize=9, fontweight="bold"
                    )
    if suptitle and not style.overlay:
        fig.text(0.995, 0.995, suptitle, ha="right", va="top", fontsize=8, color="#555555")
    _legend(fig, titles, style.overlay, legend, fontsize=7)
    canvas.draw()
    canvas.print_png(str(out_path))


def _legend(fig, titles, overlay: bool, show: bool, fontsize: float) -> None:
    if not show:
        return
    if overlay:
        handles = [
            Line2D([], [], color=OVERLAY_COLORS[k % len(OVERLAY_COLORS)], lw=2.5, label=t or f"sequence {k}")
            for k, t in enumerate(titles)
        ]
    else:
        handles = [
            Line2D([], [], color=PART_COLORS[p], lw=2.5, label=lab)
            for p, lab in (("left_leg", "left"), ("spine", "spine / head"), ("right_leg", "right"))
        ]
    fig.legend(
        handles=handles,
        loc="lower center",
        ncol=len(handles),
        fontsize=fontsize,
        frameon=False,
        handlelength=1.5,
        columnspacing=1.0,
        borderaxespad=0.1,
    )


def plot_imu(readings, out_path, title: str | None = None, dpi: float = 80.0) -> Path:
    """Plot IMU readings (an ``imu.ImuReadings``: acc (T, S, 3), ori (T, S, 3, 3), fps,
    sites, mask) to a PNG, one column per site: top, the world-frame acceleration
    (x, y, z and its norm, m/s^2); bottom, each orientation's rotation angle (deg)
    away from the calibration pose (identity). Returns the output path."""
    out_path = Path(out_path)
    if out_path.suffix.lower() != ".png":
        raise ValueError(f"plot_imu writes .png, got {out_path.suffix!r}")
    acc = np.asarray(readings.acc, np.float64)
    ori = np.asarray(readings.ori, np.float64)
    sites = list(getattr(readings, "sites", [f"site {k}" for k in range(acc.shape[1])]))
    mask = np.asarray(getattr(readings, "mask", np.ones(len(sites), bool)), bool)
    fps = float(readings.fps)
    t = np.arange(len(acc)) / fps
    # rotation angle of each world-from-sensor orientation, degrees
    cos = np.clip((np.trace(ori, axis1=-2, axis2=-1) - 1) / 2, -1, 1)
    angle = np.degrees(np.arccos(cos))
    n = len(sites)
    fig = Figure(figsize=(3.2 * n, 4.4), dpi=dpi)
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, n, sharex=True, squeeze=False)
    for k, name in enumerate(sites):
        a0, a1 = axes[0, k], axes[1, k]
        for d, (lab, col) in enumerate((("x", "#d62728"), ("y", "#2ca02c"), ("z", "#1f77b4"))):
            a0.plot(t, acc[:, k, d], color=col, lw=0.9, label=lab)
        a0.plot(t, np.linalg.norm(acc[:, k], axis=-1), color="k", lw=0.9, ls="--", label="|a|")
        a0.set_title(name + ("" if mask[k] else " (absent)"), fontsize=9)
        a1.plot(t, angle[:, k], color="#9467bd", lw=0.9)
        a1.set_xlabel("t (s)", fontsize=8)
        for a in (a0, a1):
            a.tick_params(labelsize=7)
            a.grid(alpha=0.3)
    axes[0, 0].set_ylabel("acc, world (m/s²)", fontsize=8)
    axes[1, 0].set_ylabel("rotation from calib. (deg)", fontsize=8)
    axes[0, 0].legend(fontsize=6, ncol=4, loc="upper right")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_path)
    return out_path
