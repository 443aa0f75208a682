"""The egocentric renderer (the core/egocentric/ package): real OpenGL (EGL, llvmpipe on a CPU),
real arrays. Controlled scenes use a synthetic standing body built from SMPL's rest
offsets; realistic motion comes from the bundled sample walk."""

from dataclasses import replace

import numpy as np
import pytest

from ego4o_ros.core import body, egocentric
from ego4o_ros.core.egocentric import (
    Appearance,
    Box,
    EgoCameraConfig,
    EgocentricRenderer,
    EgocentricRenderError,
    Scene,
    camera_poses,
    project_points,
)
from ego4o_ros.core.frames import facing_directions
from ego4o_ros.paths import SAMPLE_CLIP
from ego4o_ros.readers import read_clip

J = {name: i for i, name in enumerate(body.JOINT_NAMES)}
MAGENTA, RED, CYAN = (1.0, 0.0, 1.0), (1.0, 0.0, 0.0), (0.0, 1.0, 1.0)


@pytest.fixture(scope="module")
def renderers():
    made = {p: EgocentricRenderer(EgoCameraConfig(projection=p)) for p in egocentric.PROJECTIONS}
    yield made
    for renderer in made.values():
        renderer.close()


@pytest.fixture(scope="module")
def walk():
    return read_clip(SAMPLE_CLIP, target_fps=30).joints


def standing() -> np.ndarray:
    """SMPL's rest skeleton, feet on y = 0, facing +Z, arms hanging at the sides."""
    pos = np.zeros((22, 3))
    for j in range(1, 22):
        pos[j] = pos[body.PARENTS[j]] + body.SMPL_REST_OFFSETS[j]
    pos[:, 1] -= pos[:, 1].min()
    for side in ("left", "right"):
        shoulder = pos[J[f"{side}_shoulder"]]
        pos[J[f"{side}_elbow"]] = shoulder + (0.0, -0.26, 0.0)
        pos[J[f"{side}_wrist"]] = shoulder + (0.0, -0.51, 0.0)
    return pos


def raise_arm(pos: np.ndarray, side: str) -> np.ndarray:
    """The ``side`` arm lifted forward, the forearm bent up so the hand is in front of the face."""
    pos = pos.copy()
    toward_midline = -1.0 if side == "left" else 1.0  # +X is the body's left
    elbow = pos[J[f"{side}_shoulder"]] + 0.26 * np.array([0.0, 0.2, 1.0]) / np.linalg.norm([0.0, 0.2, 1.0])
    hand_dir = np.array([0.6 * toward_midline, 0.6, 0.5])
    pos[J[f"{side}_elbow"]] = elbow
    pos[J[f"{side}_wrist"]] = elbow + 0.25 * hand_dir / np.linalg.norm(hand_dir)
    return pos


def turned(pos: np.ndarray, degrees: float) -> np.ndarray:
    """The whole body turned about the vertical through the head; positive turns it to its left."""
    a = np.radians(degrees)
    rot = np.array([[np.cos(a), 0.0, np.sin(a)], [0.0, 1.0, 0.0], [-np.sin(a), 0.0, np.cos(a)]])
    pivot = pos[J["head"]] * (1.0, 0.0, 1.0)
    return (pos - pivot) @ rot.T + pivot


def pure(frames: np.ndarray, color) -> np.ndarray:
    """Mask of pixels whose hue is ``color`` (a pure RGB corner), at any shading."""
    f = frames.astype(np.int32)
    on = [f[..., c] for c in range(3) if color[c] > 0.5]
    off = [f[..., c] for c in range(3) if color[c] <= 0.5]
    mask = np.ones(frames.shape[:-1], bool)
    for a in on:
        for b in off:
            mask &= a > 2 * b + 40
    return mask


def plain_look(**colors) -> Appearance:
    base = Appearance()
    return replace(base, colors={**base.colors, **colors}, boxes=())


def room_around_origin(boxes=()) -> Scene:
    return Scene(floor_y=-0.04, bounds=(-3.0, 3.0, -3.0, 5.0), height=2.8, boxes=tuple(boxes))


@pytest.mark.parametrize("projection", egocentric.PROJECTIONS)
def test_an_arm_raised_in_front_of_the_face_is_in_view_and_lowered_is_not(renderers, projection):
    renderer = renderers[projection]
    look = plain_look(upper_arms=MAGENTA, forearms=MAGENTA, hands=MAGENTA)
    height, width = renderer.config.height, renderer.config.width
    poses = np.stack([standing(), raise_arm(standing(), "left"), raise_arm(standing(), "right")])
    down, left_up, right_up = pure(renderer.render(poses, look, scene=room_around_origin()), MAGENTA)
    upper = slice(0, height // 2)
    assert down[upper].sum() == 0
    for mask in (left_up, right_up):
        assert mask[upper].sum() > 0.03 * height * width  # a raised arm fills part of the upper half
    # Not mirrored: the left arm on the image's left, the right arm on its right.
    assert np.nonzero(left_up)[1].mean() < width / 2 < np.nonzero(right_up)[1].mean()


def test_walking_forward_moves_a_floor_that_stays_in_the_world(renderers):
    renderer = renderers["fisheye"]
    look = replace(plain_look(), floor_pattern="checker", floor_tile_m=0.5, floor_angle_deg=0.0)
    pose = standing()
    steps = np.array([0.0, 0.25, 1.0])  # half a tile (the checker inverts), one whole period of the checker
    frames = renderer.render(pose + steps[:, None, None] * (0.0, 0.0, 1.0), look, scene=room_around_origin())
    near_floor = frames[:, -renderer.config.height // 3 :].astype(np.float64)  # only floor (and the body) there
    half_tile = np.abs(near_floor[1] - near_floor[0]).mean()
    one_period = np.abs(near_floor[2] - near_floor[0]).mean()
    assert half_tile > 15.0
    assert one_period < 0.2 * half_tile


@pytest.mark.parametrize("projection", egocentric.PROJECTIONS)
def test_turning_the_head_moves_a_known_world_point_as_projected(renderers, projection):
    renderer = renderers[projection]
    config = renderer.config
    box = Box(center=(0.0, 2.5), size=(0.4, 1.2, 0.4), yaw_deg=0.0, color=RED)
    scene = room_around_origin([box])
    centre = np.array([[box.center[0], scene.floor_y + 0.6, box.center[1]]])
    poses = np.stack(
        [standing(), turned(standing(), 35.0), turned(standing(), -35.0)]
    )  # far off-axis: the lens model shows
    columns, expected = [], []
    for pose in poses:  # one render each: no head smoothing across unrelated poses
        frame = renderer.render(pose[None], plain_look(), scene=scene)[0]
        rows, cols = np.nonzero(pure(frame, RED))
        assert len(cols) > 30
        pixel, visible = project_points(centre, camera_poses(pose[None], config)[0], config)
        assert visible.all()
        # The rendered box is centred where the renderer's own projection puts its centre.
        assert abs(cols.mean() + 0.5 - pixel[0, 0]) < 3.0 and abs(rows.mean() + 0.5 - pixel[0, 1]) < 4.0
        columns.append(cols.mean())
        expected.append(pixel[0, 0])
    # Turning left moves the scene right in the image, turning right moves it left, by the projected amount.
    assert columns[1] > columns[0] + 10.0 > columns[2] + 20.0
    assert abs((columns[1] - columns[2]) - (expected[1] - expected[2])) < 3.0


def test_the_camera_sits_on_the_head_pitched_down(walk):
    config = EgoCameraConfig(pitch_deg=35.0)
    poses = camera_poses(walk, config)
    offset = poses[:, :3, 3] - walk[:, J["head"]]
    assert np.all(np.linalg.norm(offset, axis=1) < 0.2)
    facing = facing_directions(walk)
    forward = -poses[:, :3, 2]
    assert np.all(np.sum(offset * facing, axis=1) > 0.05)  # in front of the eyes, not behind the head
    elevation = np.degrees(np.arcsin(forward[:, 1]))
    assert abs(np.median(elevation) + 35.0) < 2.0
    assert np.allclose(np.linalg.det(poses[:, :3, :3]), 1.0)  # a rotation: no mirror image


def test_the_sample_walk_shows_floor_hands_and_feet_from_above(renderers, walk):
    look = plain_look(hands=MAGENTA, feet=CYAN)
    frames = renderers["fisheye"].render(walk, look)
    height = frames.shape[1]
    hands, feet = pure(frames, MAGENTA), pure(frames, CYAN)
    with_hands = hands.sum(axis=(1, 2)) > 5
    with_feet = feet.sum(axis=(1, 2)) > 5
    assert with_hands.mean() > 0.2 and with_feet.mean() > 0.1  # they swing in and out of view
    # Seen from the head, hands and feet are in the lower part of the image (not upside down).
    assert np.nonzero(hands)[1].mean() > height / 2 and np.nonzero(feet)[1].mean() > 0.6 * height
    # Walking changes what is seen from frame to frame.
    assert np.abs(np.diff(frames.astype(np.int16), axis=0)).mean() > 2.0


def test_a_fixed_seed_is_deterministic_and_seeds_differ(renderers, walk):
    clip = walk[::20]
    first = renderers["pinhole"].render(clip, Appearance.random(7))
    with EgocentricRenderer(EgoCameraConfig(projection="pinhole")) as fresh:
        again = fresh.render(clip, Appearance.random(7))
    assert np.array_equal(first, again)
    assert Appearance.random(7) == Appearance.random(7)
    assert Appearance.random(1).colors != Appearance.random(2).colors
    other = renderers["pinhole"].render(clip, Appearance.random(8))
    assert np.abs(first.astype(np.int16) - other).mean() > 10.0


def test_both_projections_render_the_walk(renderers, walk):
    clip = walk[::30]
    views = {p: r.render(clip, Appearance.random(3)) for p, r in renderers.items()}
    for frames in views.values():
        assert frames.shape == (len(clip), 128, 128, 3) and frames.dtype == np.uint8
        assert frames.std() > 20.0
    assert np.abs(views["fisheye"].astype(np.int16) - views["pinhole"]).mean() > 5.0
    wide = EgocentricRenderer(EgoCameraConfig(width=160, height=96, projection="fisheye", fov_deg=180.0))
    with wide:
        assert wide.render(clip[:2]).shape == (2, 96, 160, 3)


def test_no_headless_gl_is_one_clear_error(monkeypatch):
    import moderngl

    def no_egl(*args, **kwargs):
        raise Exception("libEGL.so.1: cannot open shared object file")

    monkeypatch.setattr(egocentric.renderer, "_CONTEXT", None)  # the process's GL context lives there
    monkeypatch.setattr(moderngl, "create_standalone_context", no_egl)
    with pytest.raises(EgocentricRenderError, match="EGL") as info:
        EgocentricRenderer()
    assert info.value.__cause__ is None and "libEGL" in str(info.value)
    monkeypatch.setitem(__import__("sys").modules, "moderngl", None)
    with pytest.raises(EgocentricRenderError, match="moderngl"):
        EgocentricRenderer()


def test_contact_sheet_writes_a_png(tmp_path):
    frames = np.zeros((3, 16, 16, 3), np.uint8)
    frames[1] = 255
    sheet = egocentric.contact_sheet([frames, frames], labels=["a", "b"], path=tmp_path / "s.png", scale=2)
    assert (tmp_path / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sheet.ndim == 3 and sheet.shape[0] >= 2 * 32 and (sheet == 255).any()
