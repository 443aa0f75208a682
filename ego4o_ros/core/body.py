"""The SMPL-22 body: joint names, topology, body parts, rest template, forward kinematics.

Body frame (see ``frames.py`` for the full list): metres, Y up, the body faces +Z in
its rest pose, +X is the body's left. Joint ``j``'s *global rotation* rotates the
segment hanging below it (e.g. joint 18, the left elbow, carries the forearm) from
the rest pose (SMPL's T-pose) into the world.
"""

from __future__ import annotations

import numpy as np

JOINT_NAMES = (
    "pelvis",
    "left_hip",
    "right_hip",
    "spine1",
    "left_knee",
    "right_knee",
    "spine2",
    "left_ankle",
    "right_ankle",
    "spine3",
    "left_foot",
    "right_foot",
    "neck",
    "left_collar",
    "right_collar",
    "head",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
)
NUM_JOINTS = len(JOINT_NAMES)
PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19)
KINEMATIC_CHAINS = ((0, 2, 5, 8, 11), (0, 1, 4, 7, 10), (0, 3, 6, 9, 12, 15), (9, 14, 17, 19, 21), (9, 13, 16, 18, 20))

# HumanML3D's "raw offsets": unit rest direction of each joint from its parent. Its
# inverse kinematics measures every bone's swing from these directions.
RAW_DIRECTIONS = np.array(
    [
        [0, 0, 0],
        [1, 0, 0],
        [-1, 0, 0],
        [0, 1, 0],
        [0, -1, 0],
        [0, -1, 0],
        [0, 1, 0],
        [0, -1, 0],
        [0, -1, 0],
        [0, 1, 0],
        [0, 0, 1],
        [0, 0, 1],
        [0, 1, 0],
        [1, 0, 0],
        [-1, 0, 0],
        [0, 0, 1],
        [0, -1, 0],
        [0, -1, 0],
        [0, -1, 0],
        [0, -1, 0],
        [0, -1, 0],
        [0, -1, 0],
    ],
    dtype=np.float64,
)

# Bone lengths (m, joint j from its parent) of HumanML3D's target skeleton, read off
# the shipped sample: every clip is retargeted to these so bone lengths agree.
TEMPLATE_BONE_LENGTHS = np.array(
    [
        0.0,
        0.1031,
        0.1099,
        0.1316,
        0.3936,
        0.3902,
        0.1432,
        0.4324,
        0.4256,
        0.0574,
        0.1434,
        0.1494,
        0.2194,
        0.1375,
        0.1434,
        0.1030,
        0.1316,
        0.1230,
        0.2568,
        0.2631,
        0.2660,
        0.2699,
    ]
)

# Rest offsets of the neutral SMPL body (betas = 0) in its T-pose, parent -> joint,
# metres. Approximate (3-4 digits); readers of SMPL-parameter data (AMASS, DIP-IMU)
# use them when no SMPL model file is given.
SMPL_REST_OFFSETS = np.array(
    [
        [0.0, 0.0, 0.0],
        [0.058, -0.082, -0.018],
        [-0.060, -0.091, -0.014],
        [0.004, 0.124, -0.038],
        [0.043, -0.386, 0.008],
        [-0.043, -0.383, -0.005],
        [0.004, 0.138, 0.028],
        [-0.015, -0.427, -0.037],
        [0.019, -0.420, -0.035],
        [0.003, 0.056, -0.002],
        [0.041, -0.060, 0.122],
        [-0.035, -0.062, 0.130],
        [-0.013, 0.212, -0.034],
        [0.072, 0.120, -0.019],
        [-0.083, 0.119, -0.023],
        [0.010, 0.089, 0.050],
        [0.123, 0.045, -0.019],
        [-0.113, 0.047, -0.008],
        [0.255, -0.016, -0.021],
        [-0.260, -0.014, -0.031],
        [0.266, 0.011, -0.003],
        [-0.269, 0.007, -0.006],
    ]
)
SMPL_REST_PELVIS_HEIGHT = 0.93  # pelvis above the soles in the rest pose (approx.)

# The joint that ends each joint's segment: the segment a joint's global rotation turns
# (leaves have none and follow their parent's swing).
SEGMENT_END = {
    0: 3,
    1: 4,
    2: 5,
    3: 6,
    4: 7,
    5: 8,
    6: 9,
    7: 10,
    8: 11,
    9: 12,
    12: 15,
    13: 16,
    14: 17,
    16: 18,
    17: 19,
    18: 20,
    19: 21,
}

# Facing is measured from the hips and shoulders (HumanML3D: r_hip, l_hip, r_sdr, l_sdr).
FACE_JOINTS = (2, 1, 17, 16)
FOOT_JOINTS_LEFT = (7, 10)
FOOT_JOINTS_RIGHT = (8, 11)

# The six parts of the part-aware VQ-VAE (TLControl's grouping, as in Ego4o's release).
BODY_PARTS = {
    "root": (0,),
    "spine_head": (3, 6, 9, 12, 15),
    "left_arm": (13, 16, 18, 20),
    "right_arm": (14, 17, 19, 21),
    "left_leg": (1, 4, 7, 10),
    "right_leg": (2, 5, 8, 11),
}
PART_NAMES = tuple(BODY_PARTS)

FEATURE_DIM = 263  # HumanML3D vector for 22 joints


def feature_slices(joint: int) -> dict[str, slice]:
    """Where joint ``joint``'s numbers sit in the 263-dim HumanML3D vector."""
    out = {"vel": slice(193 + 3 * joint, 196 + 3 * joint)}
    if joint > 0:
        out["ric"] = slice(4 + 3 * (joint - 1), 7 + 3 * (joint - 1))
        out["rot"] = slice(67 + 6 * (joint - 1), 73 + 6 * (joint - 1))
    return out


def _part_feature_indices() -> dict[str, np.ndarray]:
    parts = {}
    for name, joints in BODY_PARTS.items():
        idx: list[int] = []
        if name == "root":
            idx += list(range(0, 4))
        for j in joints:
            for key in ("ric", "rot", "vel"):
                s = feature_slices(j).get(key)
                if s is not None:
                    idx += list(range(s.start, s.stop))
        if name == "left_leg":
            idx += [259, 260]
        if name == "right_leg":
            idx += [261, 262]
        parts[name] = np.array(sorted(idx), dtype=np.int64)
    return parts


PART_FEATURE_INDICES = _part_feature_indices()


def template_offsets(lengths: np.ndarray = TEMPLATE_BONE_LENGTHS) -> np.ndarray:
    """Rest offsets along HumanML3D's raw directions with the given bone lengths."""
    return RAW_DIRECTIONS * np.asarray(lengths)[:, None]


def bone_lengths(joints: np.ndarray) -> np.ndarray:
    """(..., 22, 3) positions -> (..., 22) lengths of the bone ending at each joint."""
    parents = np.array(PARENTS[1:])
    lengths = np.linalg.norm(joints[..., 1:, :] - joints[..., parents, :], axis=-1)
    return np.concatenate([np.zeros(lengths.shape[:-1] + (1,)), lengths], axis=-1)


def forward_kinematics(
    local_rotations: np.ndarray, root_positions: np.ndarray, offsets: np.ndarray, parents=PARENTS
) -> tuple[np.ndarray, np.ndarray]:
    """Parent-relative rotations -> global joint positions and global rotations.

    local_rotations: (..., J, 3, 3); root_positions: (..., 3); offsets: (J, 3) or
    (..., J, 3), the rest offset of each joint from its parent (root's is ignored).
    Returns positions (..., J, 3) and global rotations (..., J, 3, 3).
    """
    local_rotations = np.asarray(local_rotations, np.float64)
    offsets = np.broadcast_to(np.asarray(offsets, np.float64), local_rotations.shape[:-3] + (len(parents), 3))
    global_rot = np.empty_like(local_rotations)
    positions = np.empty(local_rotations.shape[:-1], dtype=np.float64)
    for j, p in enumerate(parents):
        if p < 0:
            global_rot[..., j, :, :] = local_rotations[..., j, :, :]
            positions[..., j, :] = root_positions
        else:
            global_rot[..., j, :, :] = global_rot[..., p, :, :] @ local_rotations[..., j, :, :]
            positions[..., j, :] = positions[..., p, :] + np.einsum(
                "...ij,...j->...i", global_rot[..., p, :, :], offsets[..., j, :]
            )
    return positions, global_rot
