"""The out-of-distribution collection (../shared/data/ood_motion): every file of its four
archives reads onto a plausible SMPL-22 body through ``read_clip`` (iClone Character Creator
BVH, PFNN Daz-style BVH, DeepMimic humanoid3d JSON, poselib .npy), with the frame counts and
rates its README and clips.csv state; the same CMU trial on two rigs reads to the same
motion; the poselib files load through a restricted unpickler that refuses anything else."""

import json
import pickle
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED, needs_shared
from scipy.ndimage import gaussian_filter1d

from ego4o_ros.core import body, features, rotations
from ego4o_ros.core.mirror import mirror_joints
from ego4o_ros.live.replay import WearableReplay
from ego4o_ros.readers import is_motion_file, ood, read_clip
from ego4o_ros.readers.deepmimic import HUMANOID3D, load_character
from ego4o_ros.readers.poselib import UnsafePickleError, load_skeleton_motion
from ego4o_ros.readers.rigs import BLEND_SPEED
from ego4o_ros.readers.sources import iter_folder, read_item

ROOT = SHARED / "data" / "ood_motion"
pytestmark = needs_shared(ROOT)
LIMBS = (1, 2, 4, 5, 7, 8, 10, 11, 16, 17, 18, 19, 20, 21)  # bones ending at these joints: one rig joint each
WALKS = {"walk", "slow walk", "brisk walk", "run", "run/jog", "walk forward", "run forward"}


@pytest.fixture(scope="module")
def xdg_cache(tmp_path_factory):
    """An XDG cache folder for this module: the archives are extracted there once."""
    return tmp_path_factory.mktemp("xdg_cache")


@pytest.fixture(scope="module")
def items(xdg_cache):
    return ood.items(ROOT, xdg_cache / "ego4o_ros" / "ood_motion", distinct=False)  # ood.default_cache()


def characters(items) -> Path:
    """The extracted jump_cmu archive's character files."""
    item = next(i for i in items if i.archive == "jump_cmu")
    return item.path.parents[len(Path(item.member).parts) - 1] / "data" / "characters"


def facing(joints):
    """(T, 3) unit forward of the body (left hip -> right hip across, Y up)."""
    left = rotations.normalize(joints[:, 1] - joints[:, 2])
    return rotations.normalize(np.cross(left, [0.0, 1.0, 0.0]))


def measure(item, clip) -> dict:
    j = clip.joints
    lengths = body.bone_lengths(j)
    forward = facing(j)
    feet = j[:, [7, 8, 10, 11], 1].min(axis=1)
    toes = ((j[:, [10, 11]] - j[:, [7, 8]]) * forward[:, None]).sum(-1)
    velocity = np.diff(j[:, 0], axis=0) * clip.fps
    velocity[:, 1] = 0
    return {
        "frames": clip.num_frames,
        "fps": clip.fps,
        "rotations_finite": bool(np.isfinite(clip.global_rotations).all()),
        # the body stretched: ankle-knee-hip and pelvis-spine-neck-head chains
        "stretched": float(np.median(lengths[:, [4, 7, 5, 8]].sum(1) / 2 + lengths[:, [3, 6, 9, 12, 15]].sum(1))),
        "limb_spread": float(np.ptp(lengths[:, list(LIMBS)], axis=0).max()),
        "bone_spread": float(np.ptp(lengths[:, 1:], axis=0).max()),
        "feet_p5": float(np.percentile(feet, 5)),
        "head_over_pelvis": float(np.median(j[:, 15, 1] - j[:, 0, 1])),
        "toes_forward": float(np.median(toes)),
        "speed_along_facing": float(np.mean((velocity * forward[1:]).sum(-1))),
        "first_step": float(np.linalg.norm(j[1] - j[0], axis=-1).max() * clip.fps),
    }


@pytest.fixture(scope="module")
def measured(items):
    return {item.name: (item, measure(item, read_clip(item.path))) for item in items}


def by_archive(measured):
    out = defaultdict(list)
    for item, stats in measured.values():
        out[item.archive].append((item, stats))
    return out


def test_every_file_of_the_collection_is_read(items, measured):
    counts = {archive: len(group) for archive, group in by_archive(measured).items()}
    assert counts == {"iclone_cmu": 50, "pfnn_cmu": 10, "jump_cmu": 84, "ase_reallusion": 87}
    assert all(stats["rotations_finite"] for _, stats in measured.values())  # joints: MotionClip checks


def test_frame_counts_and_rates_as_the_readme_says(measured):
    wrong = []
    for item, stats in measured.values():
        if item.archive == "iclone_cmu":  # 60 fps; frame 0 of 9 files is an added T-pose
            expected = item.frames - (1 if "T-pose" in item.note else 0)
            ok = stats["frames"] == expected and stats["fps"] == 60.0
        elif item.archive == "pfnn_cmu":  # header says 15 fps; frame 0 a reference pose (+ a blend frame)
            ok = stats["fps"] == 60.0 and 1 <= item.frames - stats["frames"] <= 2
            ok = ok and stats["first_step"] < BLEND_SPEED
        else:  # DeepMimic 1 / dt, poselib fps: every frame kept
            ok = stats["frames"] == item.frames and abs(stats["fps"] - item.fps) <= 2e-3 * item.fps
        if not ok:
            wrong.append(f"{item.name}: {stats['frames']} frames at {stats['fps']:g} (clips.csv {item.frames})")
    assert not wrong, wrong
    lead = sum(item.frames - stats["frames"] for item, stats in measured.values() if item.archive == "iclone_cmu")
    assert lead == 9


def test_a_plausible_body_in_metres_y_up(measured):
    wrong = []
    for item, stats in measured.values():
        if not 1.4 <= stats["stretched"] <= 2.0:  # ankle to head when standing straight
            wrong.append(f"{item.name}: body {stats['stretched']:.2f} m")
        if stats["limb_spread"] > 1e-3 or stats["bone_spread"] > 0.03:  # rigid limbs; spine points may slide
            wrong.append(f"{item.name}: bone lengths vary by {stats['bone_spread'] * 1000:.1f} mm")
        if not -0.12 <= stats["feet_p5"] <= 0.25:  # on (or near) the floor, never a 1-m offset
            wrong.append(f"{item.name}: feet at {stats['feet_p5']:.3f} m")
    assert not wrong, wrong
    for archive, group in by_archive(measured).items():
        feet = np.median([stats["feet_p5"] for _, stats in group])
        assert -0.05 <= feet <= 0.10, f"{archive}: the feet's median lowest height is {feet:.3f} m"
        upright = np.mean([stats["head_over_pelvis"] > 0.3 for _, stats in group])
        assert upright >= 0.9, f"{archive}: the head is above the pelvis in only {upright:.0%} of the clips"


def test_facing_plus_z_with_the_left_at_plus_x(measured):
    for archive, group in by_archive(measured).items():
        toes = np.median([stats["toes_forward"] for _, stats in group])
        assert toes > 0.05, f"{archive}: the toes point {toes:.3f} m ahead of the ankles"
    # CMU's walks and runs (the Reallusion ones walk in a sword-and-shield stance, hips turned
    # 45-80 degrees from where they go).
    walks = [(item, stats) for item, stats in measured.values() if item.trial and item.descriptions[-1] in WALKS]
    assert len(walks) >= 20
    backwards = [item.name for item, stats in walks if stats["speed_along_facing"] < 0.3]
    assert not backwards, f"walks that move backwards: {backwards}"


def local_poses(clip):
    """Template-retargeted joints relative to the root, turned to face +Z per frame."""
    joints = features.retarget_to_template(clip.joints)
    forward = features.smoothed_forward(joints, features.FeatureConfig(fps=clip.fps))
    turn = rotations.axis_rotation("Y", -np.arctan2(forward[:, 0], forward[:, 2]))
    return np.einsum("tij,tkj->tki", turn, joints - joints[:, :1])


@pytest.mark.parametrize("trial", ["07_03", "07_05", "07_11"])
def test_one_trial_on_two_rigs_reads_to_the_same_motion(items, trial):
    """iClone's BVH and DeepMimic's JSON of the same CMU walk: within centimetres, and much
    closer than the left-right mirror of it (a mirrored or turned reader would not be)."""
    pair = {item.archive: item for item in items if item.trial == trial}
    iclone, deepmimic = (pair[a].read(target_fps=30) for a in ("iclone_cmu", "jump_cmu"))
    assert iclone.take == deepmimic.take == f"cmu_{trial}"
    a, b = local_poses(iclone), local_poses(deepmimic)
    mirrored = local_poses(type(deepmimic)("mirror", 30.0, mirror_joints(deepmimic.joints)))
    n = min(len(a), len(b))
    same = np.linalg.norm(a[:n] - b[:n], axis=-1).mean()
    other = np.linalg.norm(a[:n] - mirrored[:n], axis=-1).mean()
    assert same < 0.08 and other > 2 * same, (same, other)


@pytest.mark.parametrize("archive", ["iclone_cmu", "pfnn_cmu", "jump_cmu", "ase_reallusion"])
def test_rotations_carry_the_bones(items, archive):
    """Each limb segment's global rotation turns SMPL's rest bone onto the read bone."""
    item = next(i for i in items if i.archive == archive and i.frames > 150)
    clip = read_clip(item.path)
    for start in (1, 2, 4, 5, 7, 8, 13, 14, 16, 17, 18, 19):
        end = body.SEGMENT_END[start]
        rest = rotations.normalize(body.SMPL_REST_OFFSETS[end])
        predicted = np.einsum("tij,j->ti", clip.global_rotations[:, start], rest)
        actual = rotations.normalize(clip.joints[:, end] - clip.joints[:, start])
        assert np.abs(predicted - actual).max() < 1e-6, (item.name, body.JOINT_NAMES[start])


def test_descriptions_takes_and_the_split_by_trial(items):
    kit = json.loads((ROOT / ood.CAPTIONS).read_text())
    by_name = {item.name: item for item in items}
    walk = by_name["iclone_cmu-007_03"]
    assert walk.descriptions[0] == kit["02702"]["annotations"][0]["text"] and walk.descriptions[-1] == "walk"
    assert by_name["jump_cmu-85_01"].descriptions[-1] == "jump twist"  # CMU's "JumpTwist"
    assert by_name["ase_reallusion-RL_Avatar_Atk_2xCombo01_Motion"].descriptions == ("attack 2x combo",)
    assert by_name["jump_cmu-humanoid3d_run_jump"].take == by_name["jump_cmu-127_28"].take == "cmu_127_28"
    copies = (
        by_name["ase_reallusion-RL_Avatar_Idle_Alert(0)_Motion"],
        by_name["ase_reallusion-RL_Avatar_Idle_Alert_Motion"],
    )
    assert copies[0].take == copies[1].take and copies[0].path.read_bytes() == copies[1].path.read_bytes()
    captioned = {
        item.trial
        for item in items
        if item.descriptions[0] in {a["text"] for e in kit.values() for a in e["annotations"]}
    }
    assert len(captioned) == 41
    assert all(item.descriptions for item in items)
    trials = defaultdict(set)
    for item in items:
        if item.trial:
            trials[item.trial].add((item.take, item.split(10.0)))
    assert all(len(sides) == 1 for sides in trials.values())  # one take, one side, on every rig
    validation = {item.take for item in items if item.split(10.0) == "validation"}
    assert 10 <= len(validation) <= 40 and {i.archive for i in items if i.take in validation} == set(ood.ARCHIVES)


def test_the_collection_as_a_source_and_files_by_content(items, xdg_cache, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(xdg_cache))
    listed = list(iter_folder(ROOT))
    assert len(listed) == 228 and all(isinstance(payload, ood.OodItem) for _, payload, _ in listed)  # 3 copies out
    name, payload, label = listed[60]
    clip = read_item(name, payload, label, 30.0)
    assert clip.name == name and clip.take == payload.take and clip.descriptions == list(payload.descriptions)
    deepmimic = next(i for i in items if i.archive == "jump_cmu")
    assert is_motion_file(deepmimic.path) and not is_motion_file(characters(items) / "humanoid3d.txt")
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "clip.json").write_bytes(deepmimic.path.read_bytes())  # DeepMimic's own extension
    (folder / "dataset-1_walk_normal_001.json").write_text('{"content": 0, "style": 0}')  # a Bandai label
    (folder / "clip.txt").write_text("a person walks\n")  # a description
    assert [n for n, _, _ in iter_folder(folder)] == ["clip.json"]
    np.testing.assert_allclose(read_clip(folder / "clip.json").joints, read_clip(deepmimic.path).joints)


def test_the_deepmimic_skeleton_is_the_archive_s(items):
    for name in ("humanoid3d.txt", "humanoid3d_jumper60kg.txt"):
        joints = load_character(characters(items) / name)
        assert [(n, p) for n, p, _ in joints] == [(n, p) for n, p, _ in HUMANOID3D]
        np.testing.assert_allclose([o for _, _, o in joints], [o for _, _, o in HUMANOID3D], atol=1e-9)


def test_each_format_replays_as_wearables(items):
    for archive in ood.ARCHIVES:
        item = next(i for i in items if i.archive == archive)
        replay = WearableReplay.from_file(item.path)
        samples = replay.imu_samples(0.0, 0.5)
        assert samples and all(np.isfinite(s.acc).all() and np.isfinite(s.quat_xyzw).all() for s in samples)


class _Touch:
    """Unpickling this would create a folder (``os.makedirs``)."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        import os

        return os.makedirs, (self.path,)


def test_the_poselib_unpickler_refuses_anything_else(items, tmp_path):
    ase = next(i for i in items if i.archive == "ase_reallusion")
    motion = load_skeleton_motion(ase.path)
    assert motion["__name__"] == "SkeletonMotion" and motion["rotation"]["arr"].shape[1:] == (17, 4)
    # A file numpy writes today (numpy._core names) with the same kind of content loads too.
    again = tmp_path / "again.npy"
    np.save(again, np.array(motion, dtype=object), allow_pickle=True)
    np.testing.assert_array_equal(load_skeleton_motion(again)["rotation"]["arr"], motion["rotation"]["arr"])
    target = tmp_path / "pwned"
    evil = tmp_path / "RL_Avatar_Evil_Motion.npy"
    np.save(evil, np.array({"__name__": "SkeletonMotion", "x": _Touch(target)}, dtype=object), allow_pickle=True)
    for load in (load_skeleton_motion, read_clip):
        with pytest.raises(UnsafePickleError, match="os.makedirs|posix.makedirs"):
            load(evil)
    assert not target.exists()
    assert isinstance(UnsafePickleError("x"), pickle.UnpicklingError)
    (tmp_path / "plain.npy").write_bytes(Path(ase.path).read_bytes()[:20])  # truncated: no pickle run
    with pytest.raises(ValueError):
        read_clip(tmp_path / "plain.npy")


def test_poselib_quaternions_are_xyzw(items):
    """The read joints move exactly as the file's own ``global_velocity`` says (poselib: the
    gradient smoothed by a Gaussian of 2 frames; Z up -> Y up: the body's left, up, forward
    are the file's +Y, +Z, +X): poselib's (x, y, z, w) order, the root translation and the
    axes all agree with what poselib computed."""
    item = next(i for i in items if i.name == "ase_reallusion-RL_Avatar_Atk_Kick_Motion")
    clip = read_clip(item.path)
    stored = load_skeleton_motion(item.path)
    bodies = stored["skeleton_tree"]["node_names"]
    velocity = stored["global_velocity"]["arr"][:, :, [1, 2, 0]]  # file (x, y, z) -> body (left, up, forward)
    for joint, name in ((0, "pelvis"), (12, "head"), (20, "left_hand"), (21, "right_hand"), (7, "left_foot")):
        read = gaussian_filter1d(np.gradient(clip.joints[:, joint], axis=0), 2, axis=0, mode="nearest") * clip.fps
        assert np.abs(read - velocity[:, bodies.index(name)]).max() < 1e-3, name
