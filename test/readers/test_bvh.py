"""BVH reader: hand-computed FK, channel semantics, tolerance and error reporting,
and one real Bandai-Namco file streamed from the shared archive."""

import tarfile
from pathlib import Path

import numpy as np
import pytest
from conftest import skip_without_shared

from ego4o_ros.core.rotations import axis_rotation
from ego4o_ros.readers.bvh import BvhError, BvhMotion, parse_bvh, read_bvh

BANDAI_ARCHIVE = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "bandai" / "bandai_train.tar.xz"

# Root with 6 channels, a child with 3 rotation channels in ZXY order, an End Site.
# Frame 0: rest pose. Frame 1: root moved to (10, 20, 30) and turned 90 deg about Z.
# Frame 2: root at rest, Arm turned Z=90 then X=90 (intrinsic ZXY).
TINY = """HIERARCHY
ROOT Hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT Arm
  {
    OFFSET 1 0 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    End Site
    {
      OFFSET 0 2 0
    }
  }
}
MOTION
Frames: 3
Frame Time: 0.04
0 0 0 0 0 0 0 0 0
10 20 30 90 0 0 0 0 0
0 0 0 0 0 0 90 90 0
"""


def write(tmp_path: Path, text: str, name: str = "clip.bvh", newline: str = "\n") -> Path:
    path = tmp_path / name
    with open(path, "w", newline=newline) as f:
        f.write(text)
    return path


def line_of(text: str, needle: str) -> int:
    """1-based number of the line where ``needle`` first occurs."""
    return text.count("\n", 0, text.index(needle)) + 1


def rz(deg):
    a = np.deg2rad(deg)
    return np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])


def rx(deg):
    a = np.deg2rad(deg)
    return np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])


# ---------------------------------------------------------------- structure and FK
def test_tiny_hierarchy_structure(tmp_path):
    motion = read_bvh(write(tmp_path, TINY))
    assert isinstance(motion, BvhMotion)
    assert motion.joint_names == ["Hips", "Arm", "Arm_end"]
    assert motion.parents.tolist() == [-1, 0, 1]
    assert motion.is_end_site.tolist() == [False, False, True]
    assert motion.channels == [
        ["Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation"],
        ["Zrotation", "Xrotation", "Yrotation"],
        [],
    ]
    np.testing.assert_array_equal(motion.offsets, [[0, 0, 0], [1, 0, 0], [0, 2, 0]])
    assert motion.num_frames == 3
    assert motion.frame_time == pytest.approx(0.04)
    assert motion.fps == pytest.approx(25.0)
    assert motion.local_rotations.shape == (3, 3, 3, 3)
    assert motion.local_translations.shape == (3, 3, 3)
    assert motion.channel_values.shape == (3, 9)
    assert motion.index("Arm") == 1
    assert motion.path == str(tmp_path / "clip.bvh")


def test_index_error_lists_joint_names(tmp_path):
    motion = read_bvh(write(tmp_path, TINY))
    with pytest.raises(KeyError, match="Hips, Arm, Arm_end"):
        motion.index("Spine")


def test_fk_matches_hand_computation():
    positions, rotations = parse_bvh(TINY).forward_kinematics()
    # Rest pose: offsets chain up.
    np.testing.assert_allclose(positions[0], [[0, 0, 0], [1, 0, 0], [1, 2, 0]], atol=1e-12)
    # Root Zrotation 90 turns the child offset (1,0,0) into (0,1,0) and the end (0,2,0)
    # into (-2,0,0), on top of the root translation.
    np.testing.assert_allclose(positions[1], [[10, 20, 30], [10, 21, 30], [8, 21, 30]], atol=1e-12)
    np.testing.assert_allclose(rotations[1, 0], rz(90), atol=1e-12)
    np.testing.assert_allclose(rotations[1, 2], rz(90), atol=1e-12)  # End Site: parent's
    # Arm ZXY (90, 90, 0): Rz(90) @ Rx(90) maps (0,2,0) -> (0,0,2).
    np.testing.assert_allclose(positions[2], [[0, 0, 0], [1, 0, 0], [1, 0, 2]], atol=1e-12)
    np.testing.assert_allclose(rotations[2, 1], rz(90) @ rx(90), atol=1e-12)


def test_euler_order_follows_channel_order():
    # Same per-axis angles (Z=90, X=90), declared in two orders.
    xyz = TINY.replace("CHANNELS 3 Zrotation Xrotation Yrotation", "CHANNELS 3 Xrotation Yrotation Zrotation").replace(
        "0 0 0 0 0 0 90 90 0", "0 0 0 0 0 0 90 0 90"
    )
    zxy_motion, xyz_motion = parse_bvh(TINY), parse_bvh(xyz)
    np.testing.assert_allclose(zxy_motion.local_rotations[2, 1], rz(90) @ rx(90), atol=1e-12)
    np.testing.assert_allclose(xyz_motion.local_rotations[2, 1], rx(90) @ rz(90), atol=1e-12)
    zxy_end = zxy_motion.forward_kinematics()[0][2, 2]
    xyz_end = xyz_motion.forward_kinematics()[0][2, 2]
    np.testing.assert_allclose(zxy_end, [1, 0, 2], atol=1e-12)
    # Rx(90) @ Rz(90) maps (0,2,0) -> (-2,0,0): a different answer.
    np.testing.assert_allclose(xyz_end, [-1, 0, 0], atol=1e-12)


def test_fk_composes_over_a_longer_chain():
    """A 3-bone chain with random angles against an explicit per-frame loop."""
    rng = np.random.default_rng(0)
    text = """HIERARCHY
ROOT A
{
  OFFSET 0.5 0 0
  CHANNELS 6 Xposition Yposition Zposition Yrotation Xrotation Zrotation
  JOINT B
  {
    OFFSET 0 1 0
    CHANNELS 3 Xrotation Zrotation Yrotation
    JOINT C
    {
      OFFSET 0 0 1.5
      CHANNELS 3 Zrotation Yrotation Xrotation
      End Site
      {
        OFFSET 1 0 0
      }
    }
  }
}
MOTION
Frames: 4
Frame Time: 0.0333333
"""
    values = np.round(rng.uniform(-180, 180, size=(4, 12)), 6)
    text += "\n".join(" ".join(f"{v:.6f}" for v in row) for row in values) + "\n"
    motion = parse_bvh(text)
    positions, _ = motion.forward_kinematics()

    def euler(angles, order):
        out = np.eye(3)
        for axis, angle in zip(order, angles):
            out = out @ axis_rotation(axis, np.deg2rad(angle))
        return out

    for t in range(4):
        row = values[t]
        r_a = euler(row[3:6], "YXZ")
        r_b = r_a @ euler(row[6:9], "XZY")
        r_c = r_b @ euler(row[9:12], "ZYX")
        p_a = row[0:3]
        p_b = p_a + r_a @ [0, 1, 0]
        p_c = p_b + r_b @ [0, 0, 1.5]
        p_end = p_c + r_c @ [1, 0, 0]
        np.testing.assert_allclose(positions[t], [p_a, p_b, p_c, p_end], atol=1e-9)


# ---------------------------------------------------------------- position channels
POSITIONED = """HIERARCHY
ROOT Root
{
  OFFSET 5 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT Child
  {
    OFFSET 1 0 0
    CHANNELS 6 Zrotation Xrotation Yrotation Xposition Yposition Zposition
    JOINT Lifted
    {
      OFFSET 0 0 4
      CHANNELS 4 Yposition Zrotation Xrotation Yrotation
      End Site
      {
        OFFSET 0 0 0
      }
    }
  }
}
MOTION
Frames: 1
Frame Time: 0.1
1 1 1 0 0 0 0 0 0 0 3 0 7 0 0 0
"""


def test_position_channels_replace_offsets():
    motion = parse_bvh(POSITIONED)  # "replace" is the default
    np.testing.assert_allclose(motion.local_translations[0, :3], [[1, 1, 1], [0, 3, 0], [0, 7, 4]])
    positions, _ = motion.forward_kinematics()
    np.testing.assert_allclose(positions[0, :3], [[1, 1, 1], [1, 4, 1], [1, 11, 5]])


def test_position_channels_add_to_offsets():
    motion = parse_bvh(POSITIONED, position_channels="add")
    np.testing.assert_allclose(motion.local_translations[0, :3], [[6, 1, 1], [1, 3, 0], [0, 7, 4]])
    positions, _ = motion.forward_kinematics()
    np.testing.assert_allclose(positions[0, :3], [[6, 1, 1], [7, 4, 1], [7, 11, 5]])


def test_position_channels_mode_is_validated(tmp_path):
    with pytest.raises(ValueError, match="position_channels"):
        parse_bvh(POSITIONED, position_channels="offset")
    with pytest.raises(ValueError, match="position_channels"):
        read_bvh(write(tmp_path, POSITIONED), position_channels="Replace")


# ---------------------------------------------------------------- tolerance
def test_crlf_tabs_blank_lines_and_odd_numbers(tmp_path):
    messy = (
        TINY.replace("  ", "\t")
        .replace("OFFSET 1 0 0", "OFFSET\t1.0   0 -0.000000  ")
        .replace("Frames: 3", "Frames:\t3")
        .replace("Frame Time: 0.04", "Frame Time:   4.0e-02   \n")
        .replace("MOTION", "\nMOTION")
        .replace("10 20 30 90", "1.0e+01\t20  30.000000 \t 9.0E1")
        .rstrip("\n")
    )  # no final newline either
    messy = messy.replace("\n0 0 0 0 0 0 90 90 0", "\n\n0 0 0 0 0 -0.000000 90 90 1.87007e-05  ")
    clean, tolerant = parse_bvh(TINY), read_bvh(write(tmp_path, messy, newline="\r\n"))
    assert b"\r\n" in (tmp_path / "clip.bvh").read_bytes()
    assert tolerant.joint_names == clean.joint_names
    assert tolerant.frame_time == pytest.approx(0.04)
    np.testing.assert_allclose(tolerant.forward_kinematics()[0], clean.forward_kinematics()[0], atol=1e-5)
    assert tolerant.channel_values[2, 8] == 1.87007e-05


def test_bytes_input_and_display_name():
    motion = parse_bvh(TINY.encode(), "archive.tar.xz:clip.bvh")
    assert motion.path == "archive.tar.xz:clip.bvh"
    assert motion.num_frames == 3


def test_zero_frames():
    motion = parse_bvh(TINY.split("0 0 0 0 0 0 0 0 0")[0].replace("Frames: 3", "Frames: 0"))
    assert motion.num_frames == 0
    positions, rotations = motion.forward_kinematics()
    assert positions.shape == (0, 3, 3) and rotations.shape == (0, 3, 3, 3)


# ---------------------------------------------------------------- errors
def _break(old: str, new: str, count: int = 1) -> str:
    assert old in TINY
    return TINY.replace(old, new, count)


def last_line(text: str) -> int:
    return text.rstrip("\n").count("\n") + 1


def _case(text: str, needle: str | None, fragment: str) -> tuple[str, int, str]:
    """(broken text, expected 1-based error line, message fragment); a needle of None
    puts the error just past the last line (where the next frame was expected)."""
    line = last_line(text) + 1 if needle is None else line_of(text, needle)
    return text, line, fragment


_NO_LAST_FRAME = TINY.rsplit("0 0 0 0 0 0 90 90 0", 1)[0]
_CUT_MID_LINE = TINY.rsplit(" 90 90 0", 1)[0]
_NO_MOTION = TINY.split("MOTION")[0]

ERROR_CASES = {
    "truncated frames": _case(_NO_LAST_FRAME, None, "ends after 2 of the 3 frames"),
    "truncated mid-line": (_CUT_MID_LINE, last_line(_CUT_MID_LINE), "looks truncated"),
    "wrong value count": _case(
        _break("10 20 30 90 0 0 0 0 0", "10 20 30 90 0 0 0 0"), "10 20 30 90", "has 8 values, expected 9"
    ),
    "too many values": _case(
        _break("10 20 30 90 0 0 0 0 0", "10 20 30 90 0 0 0 0 0 0"), "10 20 30 90", "has 10 values"
    ),
    "extra frame line": _case(TINY + "1 2 3 4 5 6 7 8 9\n", "1 2 3 4 5 6 7 8 9", "more frame lines"),
    "non-numeric value": _case(_break("10 20 30 90", "10 2O 30 90"), "10 2O 30", "'2O' is not a number"),
    "unknown channel": _case(
        _break("Zrotation Xrotation Yrotation\n  JOINT", "Zrotation Xrotaton Yrotation\n  JOINT"),
        "Xrotaton",
        "unknown channel 'Xrotaton'",
    ),
    "channel count mismatch": _case(
        _break("CHANNELS 3", "CHANNELS 4"), "CHANNELS 4", "declares 4 channels but lists 3"
    ),
    "missing closing brace": _case(_break("    }\n  }\n}", "    }\n}"), "MOTION", "unbalanced braces"),
    "extra closing brace": _case(_break("    }\n  }\n}", "    }\n  }\n}\n}"), "}\nMOTION", "without a matching"),
    "missing MOTION": (_NO_MOTION, last_line(_NO_MOTION), "without a MOTION section"),
    "non-numeric offset": _case(_break("OFFSET 1 0 0", "OFFSET 1 zero 0"), "OFFSET 1 zero", "not a number"),
    "bad frame count": _case(_break("Frames: 3", "Frames: three"), "Frames:", "whole number"),
    "misspelt frame time": _case(_break("Frame Time: 0.04", "Frame Tme: 0.04"), "Frame Tme", "Frame Time"),
    "second root": _case(
        TINY.replace("MOTION", "ROOT Other\n{\n  OFFSET 0 0 0\n}\nMOTION"), "ROOT Other", "second ROOT"
    ),
    "channels on end site": _case(
        _break("OFFSET 0 2 0", "OFFSET 0 2 0\n      CHANNELS 1 Xrotation"),
        "CHANNELS 1",
        "End Site cannot have CHANNELS",
    ),
}


@pytest.mark.parametrize("case", list(ERROR_CASES))
def test_errors_name_file_and_line(tmp_path, case):
    text, expected_line, fragment = ERROR_CASES[case]
    path = write(tmp_path, text, name=f"{case.replace(' ', '_')}.bvh")
    with pytest.raises(BvhError) as info:
        read_bvh(path)
    error = info.value
    assert isinstance(error, ValueError)
    assert error.line == expected_line, str(error)
    assert error.path == str(path)
    assert f"{path}, line {expected_line}:" in str(error)
    assert fragment in str(error)


def test_missing_final_newline_is_fine():
    motion = parse_bvh(TINY.rstrip("\n"))
    assert motion.num_frames == 3


def test_errors_keep_line_numbers_with_crlf(tmp_path):
    text = _break("10 20 30 90 0 0 0 0 0", "10 20 30 90 0 0 0 0")
    path = write(tmp_path, text, newline="\r\n")
    with pytest.raises(BvhError) as info:
        read_bvh(path)
    assert info.value.line == line_of(text, "10 20 30 90")


# ---------------------------------------------------------------- a real Bandai file
@pytest.fixture(scope="module")
def bandai_walk():
    """dataset-2_walk_normal_*.bvh streamed from the archive (stops at the first match)."""
    skip_without_shared(BANDAI_ARCHIVE)
    with tarfile.open(BANDAI_ARCHIVE, "r:xz") as archive:
        for member in archive:
            if member.name.endswith(".bvh") and "dataset-2_walk_normal" in member.name:
                data = archive.extractfile(member).read()
                return member.name, data
    pytest.fail(f"no dataset-2_walk_normal BVH in {BANDAI_ARCHIVE}")


def test_real_bandai_file(bandai_walk):
    name, data = bandai_walk
    motion = parse_bvh(data, f"{BANDAI_ARCHIVE.name}:{name}")
    assert motion.path.endswith(name)
    assert (~motion.is_end_site).sum() == 22
    assert motion.is_end_site.sum() == 5
    assert motion.fps == pytest.approx(30.0, abs=1e-3)
    assert motion.num_frames > 30
    assert all(
        c == ["Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation"]
        for c, end in zip(motion.channels, motion.is_end_site)
        if not end
    )
    for joint in ("Hips", "Head", "Hand_L", "Toes_R"):
        motion.index(joint)

    positions, _ = motion.forward_kinematics()
    # Bones: every parent-child pair except joint_Root -> Hips, which is root motion.
    bones = np.flatnonzero(motion.parents > 0)
    lengths = np.linalg.norm(positions[:, bones] - positions[:, motion.parents[bones]], axis=-1)
    assert lengths.std(axis=0).max() < 1e-6
    # The position channels repeat the offsets, so bones have their rest lengths.
    np.testing.assert_allclose(lengths[0], np.linalg.norm(motion.offsets[bones], axis=-1), atol=1e-3)
    # Y up, centimetres: a standing person.
    hips, head, toes = (positions[0, motion.index(n)] for n in ("Hips", "Head", "Toes_L"))
    assert 60 < hips[1] < 120 and head[1] > hips[1] + 40 and toes[1] < 20

    # "add" would count each offset twice: bones twice as long.
    doubled = parse_bvh(data, name, position_channels="add").forward_kinematics()[0]
    limb = motion.index("LowerArm_L")
    double_length = np.linalg.norm(doubled[0, limb] - doubled[0, motion.parents[limb]])
    assert double_length == pytest.approx(2 * np.linalg.norm(motion.offsets[limb]), rel=1e-3)
