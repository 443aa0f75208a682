"""Skeleton rendering: GIF / PNG strip / MP4 output, side by side and overlay, errors."""

import math
import time

import numpy as np
import pytest
from PIL import Image

from ego4o_ros.core import body, render, video


def _rot_x(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[1.0, 0, 0], [0, c, -s], [0, s, c]])


def synthetic_walk(T: int = 60, fps: float = 30.0, speed: float = 1.2) -> np.ndarray:
    """A walking-like (T, 22, 3) sequence: the rest skeleton (RAW_DIRECTIONS *
    TEMPLATE_BONE_LENGTHS accumulated along PARENTS) moving along +Z, legs and arms
    swinging in opposition about the body's X axis, lowest joint on the floor y = 0."""
    offsets = body.RAW_DIRECTIONS * body.TEMPLATE_BONE_LENGTHS[:, None]
    swing_root = {
        1: 1,
        4: 1,
        7: 1,
        10: 1,
        2: 2,
        5: 2,
        8: 2,
        11: 2,
        16: 16,
        18: 16,
        20: 16,
        17: 17,
        19: 17,
        21: 17,
    }  # joint -> hip / shoulder
    sign = {1: 1.0, 2: -1.0, 16: -1.0, 17: 1.0}  # left leg with right arm
    out = np.zeros((T, body.NUM_JOINTS, 3))
    for t in range(T):
        phase = 2 * math.pi * 1.0 * t / fps  # one stride per second
        rots = {j: _rot_x(sign[j] * 0.45 * math.sin(phase)) for j in sign}
        p = np.zeros((body.NUM_JOINTS, 3))
        for j, parent in enumerate(body.PARENTS):
            if parent < 0:
                continue
            r = rots.get(swing_root.get(j, -1)) if j not in sign else None
            p[j] = p[parent] + (offsets[j] if r is None else r @ offsets[j])
        p[:, 2] += speed * t / fps
        out[t] = p
    out[..., 1] -= out[..., 1].min()
    return out


@pytest.fixture(scope="module")
def walk():
    return synthetic_walk()


def test_synthetic_walk_is_a_plausible_body(walk):
    np.testing.assert_allclose(
        body.bone_lengths(walk)[:, 1:], np.broadcast_to(body.TEMPLATE_BONE_LENGTHS[1:], (len(walk), 21)), atol=1e-9
    )
    assert walk[..., 1].min() == pytest.approx(0.0)
    assert walk[-1, 0, 2] > walk[0, 0, 2] + 1.0  # walks forward


def test_gif_frames_loop_and_size(tmp_path, walk):
    out = render.render_sequences([walk], tmp_path / "walk.gif", titles=["walk"], fps=30, every=2)
    assert out == tmp_path / "walk.gif"
    with Image.open(out) as im:
        assert im.format == "GIF"
        assert im.n_frames == len(walk) // 2
        assert im.info.get("loop") == 0
        w, h = im.size
        assert 200 <= w <= 400 and 200 <= h <= 500
        assert im.info.get("duration") == pytest.approx(1000 * 2 / 30, abs=5)  # GIF: 10 ms steps
    assert out.stat().st_size < 2_000_000


def test_png_strip_grid_ratio(tmp_path, walk):
    out = render.render_sequences([walk], tmp_path / "strip.png", strip_frames=6, panel_size=3.0)
    with Image.open(out) as im:
        w, h = im.size
    expected = (6 * 3.0) / (1 * 3.0 + render.STRIP_LEGEND_BAND)
    assert w / h == pytest.approx(expected, rel=0.02)
    assert h >= 3.0 * 80 - 2


def test_png_strip_two_rows_and_short_sequence(tmp_path, walk):
    out = render.render_sequences(
        [walk, walk + 0.01], tmp_path / "two.png", titles=["a", "b"], strip_frames=8, panel_size=2.5, legend=False
    )
    with Image.open(out) as im:
        assert im.size[0] / im.size[1] == pytest.approx(8 / 2, rel=0.02)
    assert list(render.strip_indices(60, 8)) == [0, 8, 17, 25, 34, 42, 51, 59]
    assert list(render.strip_indices(3, 8)) == [0, 1, 2]
    out = render.render_sequences([walk[:3]], tmp_path / "short.png", strip_frames=8, legend=False)
    with Image.open(out) as im:
        assert im.size[0] / im.size[1] == pytest.approx(3, rel=0.02)


def test_side_by_side_and_overlay_gif(tmp_path, walk):
    pred = walk + np.random.default_rng(0).normal(0, 0.01, walk.shape)
    side = render.render_sequences([walk, pred], tmp_path / "side.gif", titles=["truth", "pred"], every=3)
    over = render.render_sequences([walk, pred], tmp_path / "over.gif", titles=["truth", "pred"], every=3, overlay=True)
    with Image.open(side) as a, Image.open(over) as b:
        assert a.n_frames == b.n_frames == len(walk) // 3
        assert a.size[0] == pytest.approx(2 * b.size[0], rel=0.02)  # two panels vs one


def test_different_lengths_warn_and_truncate(tmp_path, walk):
    with pytest.warns(UserWarning, match="different lengths"):
        out = render.render_sequences([walk, walk[:30]], tmp_path / "cut.gif", every=3)
    with Image.open(out) as im:
        assert im.n_frames == 10


def test_single_array_accepted(tmp_path, walk):
    out = render.render_sequences(walk[:6], tmp_path / "one.gif")
    with Image.open(out) as im:
        assert im.n_frames == 6


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.zeros((10, 21, 3)), r"shape \(10, 21, 3\)"),
        (np.zeros((10, 22)), "shape"),
        (np.zeros((0, 22, 3)), "no frames"),
    ],
)
def test_bad_shapes(tmp_path, bad, match):
    with pytest.raises(ValueError, match=match):
        render.render_sequences([bad], tmp_path / "x.gif")


def test_errors(tmp_path, walk):
    nan = walk.copy()
    nan[5, 3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        render.render_sequences([walk, nan], tmp_path / "x.gif")
    with pytest.raises(ValueError, match="extension"):
        render.render_sequences([walk], tmp_path / "x.avi")
    with pytest.raises(ValueError, match="titles"):
        render.render_sequences([walk], tmp_path / "x.gif", titles=["a", "b"])
    with pytest.raises(ValueError, match="every"):
        render.render_sequences([walk], tmp_path / "x.gif", every=0)
    with pytest.raises(ValueError, match="fps"):
        render.render_sequences([walk], tmp_path / "x.gif", fps=0)
    with pytest.raises(ValueError, match="no sequences"):
        render.render_sequences([], tmp_path / "x.gif")
    assert not list(tmp_path.iterdir())


def test_mp4(tmp_path, walk, monkeypatch):
    if video.mp4_backend() is not None:
        out = render.render_sequences([walk[:20]], tmp_path / "walk.mp4")
        assert out.stat().st_size > 1000
        with open(out, "rb") as f:
            assert f.read(12)[4:8] == b"ftyp"
    monkeypatch.setattr(video, "mp4_backend", lambda: None)
    with pytest.raises(RuntimeError, match="imageio-ffmpeg"):
        render.render_sequences([walk[:5]], tmp_path / "none.mp4")


def test_orientation_on_screen(tmp_path):
    """Body up is screen up, and from the default 3/4 front view the body's left
    (+X) shows on the viewer's right, as in a front view (no mirror image)."""
    pose = synthetic_walk(T=1)[:1]
    ax_info = {}
    orig = render._Panel.update

    def spy(self, i):
        orig(self, i)
        self.ax.figure.canvas.draw()
        proj = self.ax.get_proj()
        pts = self.seqs[0][i]
        h = np.column_stack([pts, np.ones(len(pts))]) @ proj.T
        ax_info["xy"] = h[:, :2] / h[:, 3:]

    render._Panel.update = spy
    try:
        render.render_sequences([pose], tmp_path / "o.png", strip_frames=1)
    finally:
        render._Panel.update = orig
    xy = ax_info["xy"]
    assert xy[15, 1] > xy[0, 1] > xy[10, 1]  # head above pelvis above feet
    assert xy[16, 0] > xy[17, 0] and xy[1, 0] > xy[2, 0]  # left shoulder/hip on the right


def test_300_frame_gif_is_fast(tmp_path):
    walk = synthetic_walk(T=300)
    started = time.perf_counter()
    render.render_sequences([walk], tmp_path / "long.gif")
    assert time.perf_counter() - started < 45.0


def test_plot_imu(tmp_path):
    from ego4o_ros.core import imu

    readings = imu.synthesize_imu(synthetic_walk(T=40), None, 30.0)
    out = render.plot_imu(readings, tmp_path / "imu.png", title="imu")
    with Image.open(out) as im:
        assert im.size[0] > im.size[1]
