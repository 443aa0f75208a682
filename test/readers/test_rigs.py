"""BVH files of other rigs than Bandai's: the real CMU clips, and the same motion rewritten
as other rigs would write it (other names, a namespace, centimetres, Z up), which must read
back to the same SMPL-22 motion."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED, needs_shared
from scipy.spatial.transform import Rotation

from ego4o_ros.core import body, rotations
from ego4o_ros.paths import SAMPLE_CLIP as SAMPLE
from ego4o_ros.readers import read_clip
from ego4o_ros.readers.bandai import read_bandai
from ego4o_ros.readers.bvh import read_bvh
from ego4o_ros.readers.rigs import RigError, read_bvh_clip

CMU = SHARED / "data" / "cmu_sample"
pytestmark = needs_shared(CMU)
DIRECT = (1, 2, 4, 5, 7, 8, 15, 16, 17, 18, 19, 20, 21)  # joints every rig names directly


def write_bvh(motion, path: Path, names=None, axes=np.eye(3), scale=1.0, prefix=""):
    """``motion`` written again: joints renamed, the world turned by ``axes`` (new = axes @ old)
    and lengths scaled; rotations re-expressed (L' = A L A^T) as ZYX Euler angles."""
    names = names or {}
    positions, _ = motion.forward_kinematics()
    lines = ["HIERARCHY"]
    depth_of = {}
    children = {j: [k for k, p in enumerate(motion.parents) if p == j] for j in range(motion.num_joints)}

    def emit(j, depth):
        pad = "  " * depth
        if motion.is_end_site[j]:
            lines.append(f"{pad}End Site")
        else:
            kind = "ROOT" if motion.parents[j] < 0 else "JOINT"
            lines.append(f"{pad}{kind} {prefix}{names.get(motion.joint_names[j], motion.joint_names[j])}")
        lines.append(pad + "{")
        offset = axes @ motion.offsets[j] * scale
        lines.append(f"{pad}  OFFSET {offset[0]:.9f} {offset[1]:.9f} {offset[2]:.9f}")
        if not motion.is_end_site[j]:
            channels = "Xposition Yposition Zposition " if motion.parents[j] < 0 else ""
            count = 6 if motion.parents[j] < 0 else 3
            lines.append(f"{pad}  CHANNELS {count} {channels}Zrotation Yrotation Xrotation")
            depth_of[j] = depth
        for child in children[j]:
            emit(child, depth + 1)
        lines.append(pad + "}")

    emit(0, 0)
    columns = []
    for j in depth_of:
        local = np.einsum("ij,tjk,lk->til", axes, motion.local_rotations[:, j], axes)
        euler = Rotation.from_matrix(local).as_euler("ZYX", degrees=True)
        if motion.parents[j] < 0:
            columns.append(positions[:, 0] @ axes.T * scale)
        columns.append(euler)
    values = np.concatenate(columns, axis=1)
    lines += ["MOTION", f"Frames: {motion.num_frames}", f"Frame Time: {motion.frame_time:.7f}"]
    lines += [" ".join(f"{v:.9f}" for v in row) for row in values]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def cmu_walk():
    return read_clip(CMU / "02_01_mb.bvh")


def test_the_cmu_clips_read_as_smpl22_in_metres_y_up():
    for name, frames in (("01_01_mb", 2751), ("02_01_mb", 343), ("05_06_mb", 885)):
        info = []
        clip = read_bvh_clip(CMU / f"{name}.bvh", info=info)
        assert clip.joints.shape == (frames, 22, 3) and clip.fps == 120.0 and clip.descriptions == []
        assert info[0].rig == "cmu" and info[0].units == "cmu" and info[0].up_axis == "+y"
        pelvis_to_head = clip.joints[:, 15, 1] - clip.joints[:, 0, 1]
        assert np.median(pelvis_to_head) > 0.3  # upright, Y up
        lengths = body.bone_lengths(clip.joints)
        assert 0.38 < lengths[:, 4].mean() < 0.45  # thigh in metres (CMU unit 0.0564 m)
        assert np.ptp(lengths[:, list(DIRECT)], axis=0).max() < 1e-6  # one rigid skeleton
    walk = read_clip(CMU / "02_01_mb.bvh", target_fps=30)
    assert walk.fps == 30 and walk.num_frames == 86
    assert np.linalg.norm(walk.joints[-1, 0, [0, 2]] - walk.joints[0, 0, [0, 2]]) > 1.0  # it walks


def test_rotations_agree_with_positions():
    """Each segment's global rotation carries SMPL's rest bone onto the captured bone."""
    clip = read_clip(CMU / "05_06_mb.bvh")
    for start, end in body.SEGMENT_END.items():
        if start in (0, 3, 9):  # pelvis, spine1, spine3: their bones span several rig joints
            continue
        predicted = np.einsum(
            "tij,j->ti", clip.global_rotations[:, start], rotations.normalize(body.SMPL_REST_OFFSETS[end])
        )
        actual = rotations.normalize(clip.joints[:, end] - clip.joints[:, start])
        assert np.abs(predicted - actual).max() < 1e-6, body.JOINT_NAMES[start]


def test_lead_in_tpose_is_dropped():
    """01_01's frame 0 is an added T-pose (README of the sample); 02_01 has none."""
    raw = read_bvh(CMU / "01_01_mb.bvh")
    info = []
    clip = read_bvh_clip(CMU / "01_01_mb.bvh", info=info)
    assert info[0].lead_in_frames == 1 and clip.num_frames == raw.num_frames - 1
    kept = read_bvh_clip(CMU / "01_01_mb.bvh", trim_lead_in=False)
    np.testing.assert_allclose(kept.joints[1:], clip.joints)
    speed = np.linalg.norm(np.diff(clip.joints, axis=0), axis=-1).max() * clip.fps
    assert speed < 8.0  # no teleport left at the start
    info = []
    read_bvh_clip(CMU / "02_01_mb.bvh", info=info)
    assert info[0].lead_in_frames == 0


@pytest.mark.parametrize(
    "rig,names,prefix",
    [
        (
            "mixamo",
            {"LHipJoint": "LHip", "RHipJoint": "RHip", "Neck1": "NeckUpper", "LowerBack": "Spine0"},
            "mixamorig:",
        ),
        (
            "xsens",
            {
                "Hips": "Pelvis",
                "LeftUpLeg": "LeftUpperLeg",
                "RightUpLeg": "RightUpperLeg",
                "LeftLeg": "LeftLowerLeg",
                "RightLeg": "RightLowerLeg",
                "LeftToeBase": "LeftToe",
                "RightToeBase": "RightToe",
                "Spine1": "T8",
                "Spine": "T12",
                "LowerBack": "L5",
                "Neck": "NeckBase",
                "Neck1": "Neck",
                "LeftArm": "LeftUpperArm",
                "RightArm": "RightUpperArm",
            },
            "",
        ),
        (
            "daz",
            {
                "Hips": "hip",
                "LeftUpLeg": "lThigh",
                "RightUpLeg": "rThigh",
                "LeftLeg": "lShin",
                "RightLeg": "rShin",
                "LeftFoot": "lFoot",
                "RightFoot": "rFoot",
                "LeftToeBase": "lToe",
                "RightToeBase": "rToe",
                "Spine1": "chest",
                "Spine": "abdomen",
                "Neck1": "neck",
                "Head": "head",
                "LeftShoulder": "lCollar",
                "RightShoulder": "rCollar",
                "LeftArm": "lShldr",
                "RightArm": "rShldr",
                "LeftForeArm": "lForeArm",
                "RightForeArm": "rForeArm",
                "LeftHand": "lHand",
                "RightHand": "rHand",
                "LowerBack": "pelvis",
            },
            "",
        ),
        (
            "rokoko",
            {
                "LHipJoint": "LHip",
                "RHipJoint": "RHip",
                "LeftUpLeg": "LeftThigh",
                "RightUpLeg": "RightThigh",
                "LeftLeg": "LeftShin",
                "RightLeg": "RightShin",
                "LeftToeBase": "LeftToe",
                "RightToeBase": "RightToe",
                "Neck1": "NeckUpper",
            },
            "Actor1:",
        ),
    ],
)
def test_other_rigs_in_other_units_and_axes_read_to_the_same_motion(cmu_walk, tmp_path, rig, names, prefix):
    """The CMU walk rewritten as another rig in centimetres with Z up reads back the same."""
    z_up = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])  # file y (up) -> z, file z (forward) -> -y
    source = read_bvh(CMU / "02_01_mb.bvh")
    path = write_bvh(source, tmp_path / f"take_{rig}.bvh", names, z_up, scale=source_cm(), prefix=prefix)
    info = []
    clip = read_bvh_clip(path, info=info)
    assert info[0].rig == rig and info[0].units == "cm" and info[0].up_axis == "+z"
    np.testing.assert_allclose(clip.joints[:, DIRECT], cmu_walk.joints[:, DIRECT], atol=1e-5)
    for j in (1, 2, 4, 5, 16, 17, 18, 19):
        np.testing.assert_allclose(clip.global_rotations[:, j], cmu_walk.global_rotations[:, j], atol=1e-5)


def source_cm() -> float:
    return 0.0254 / 0.45 * 100  # CMU units -> cm


def test_user_rig_map_and_one_clear_error_for_an_unknown_rig(cmu_walk, tmp_path):
    source = read_bvh(CMU / "02_01_mb.bvh")
    names = {n: f"bone{j:02d}" for j, n in enumerate(source.joint_names)}
    path = write_bvh(source, tmp_path / "robot_take.bvh", names)
    with pytest.raises(RigError) as error:
        read_clip(path)
    message = str(error.value)
    assert "\n" not in message and "no known rig" in message and "LeftUpLeg" in message and "bone02" in message
    cmu_like = {"pelvis": "Hips", "spine3": "Spine1", "neck": "Neck1", "head": "Head"}
    for side, short in (("left", "Left"), ("right", "Right")):
        cmu_like.update(
            {
                f"{side}_hip": f"{short}UpLeg",
                f"{side}_knee": f"{short}Leg",
                f"{side}_ankle": f"{short}Foot",
                f"{side}_foot": f"{short}ToeBase",
                f"{side}_shoulder": f"{short}Arm",
                f"{side}_elbow": f"{short}ForeArm",
                f"{side}_wrist": f"{short}Hand",
            }
        )
    lines = ["units: cmu", "joints:"]
    for smpl, rig_name in cmu_like.items():
        lines.append(f"  {smpl}: {names[rig_name]}")
    for side, short in (("left", "Left"), ("right", "Right")):
        lines.append(f"  {side}_collar: {{between: [{names[short + 'Shoulder']}, {names[short + 'Arm']}], at: 0.4}}")
    rig_map = tmp_path / "robot.rig.yaml"
    rig_map.write_text("\n".join(lines) + "\n")
    clip = read_clip(path, rig_map=rig_map)
    np.testing.assert_allclose(clip.joints, cmu_walk.joints, atol=1e-6)
    (tmp_path / "robot_take.rig.yaml").write_text(rig_map.read_text())  # beside the file: found by itself
    (tmp_path / "robot_take.txt").write_text("a person walks forward#a/DET#0.0#0.0\n")
    clip = read_clip(path)
    np.testing.assert_allclose(clip.joints, cmu_walk.joints, atol=1e-6)
    assert clip.descriptions == ["a person walks forward"]
    rig_map.write_text("joints:\n  pelvis: bone00\n  left_hipp: bone02\n")
    with pytest.raises(RigError, match="left_hipp.*not SMPL-22 joints"):
        read_clip(path, rig_map=rig_map)


def test_bandai_takes_read_as_before_even_renamed(tmp_path):
    before = read_bandai(SAMPLE)
    via_dispatch = read_clip(SAMPLE)
    np.testing.assert_array_equal(via_dispatch.joints, before.joints)
    np.testing.assert_array_equal(via_dispatch.global_rotations, before.global_rotations)
    assert via_dispatch.descriptions == before.descriptions
    renamed = tmp_path / "my_walk.bvh"
    renamed.write_bytes(Path(SAMPLE).read_bytes())
    clip = read_clip(renamed)
    np.testing.assert_array_equal(clip.joints, before.joints)
    assert clip.descriptions == []


def test_render_reads_a_cmu_clip_and_rejects_mismatched_compare(tmp_path):
    out = tmp_path / "walk.png"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ego4o_ros.tools.render_clip",
            str(CMU / "02_01_mb.bvh"),
            "-o",
            str(out),
            "--every",
            "60",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert out.stat().st_size > 1000 and "rig cmu" in result.stdout
    short = tmp_path / "short.npy"
    np.save(short, np.zeros((33, 22, 3)))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ego4o_ros.tools.render_clip",
            str(CMU / "02_01_mb.bvh"),
            "-o",
            str(out),
            "--compare",
            str(short),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0 and "33 frames" in result.stderr and "Traceback" not in result.stderr
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ego4o_ros.tools.render_clip",
            "--cache",
            str(tmp_path / "none"),
            "--clip",
            "x",
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0 and "no dataset cache" in result.stderr and "Traceback" not in result.stderr
