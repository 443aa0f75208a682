"""The README picture: the human skeleton beside the robot's (its URDF joint frames, by the
retargeter's own forward kinematics) for a few frames of a walk, a wave and arms raised.

``python -m ego4o_ros.retarget.figure --out docs/retarget_g1.png`` (the walk is the
bundled sample; the wave and the raise come from the Bandai archive when it is there).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from ..core import body, features, joint_angles
from .retargeter import Retargeter, RetargetOptions
from .targets import to_ros

BESIDE = 0.45  # m: each is drawn this far from the middle (seen from the front: human left, robot right)
HUMAN_COLORS = {"left": "#1f77b4", "right": "#d62728", "centre": "#555555"}
ROBOT_COLOR = "#222222"
ROBOT_POINTS = ("left_rubber_hand", "right_rubber_hand", "retarget_head", "retarget_left_toe", "retarget_right_toe")


def _side(joint: int) -> str:
    name = body.JOINT_NAMES[joint]
    return "left" if name.startswith("left") else "right" if name.startswith("right") else "centre"


def pick_frames(joints: np.ndarray, action: str, count: int = 3) -> list[int]:
    """Frames that show the action: evenly spaced for a walk; for the others, the frames
    where the hands are highest, spread over the clip."""
    if action == "walk":
        return [int(i) for i in np.linspace(0.25, 0.75, count) * (len(joints) - 1)]
    height = joints[:, (20, 21), 1].max(axis=1)
    order = np.argsort(-height)
    chosen: list[int] = []
    spacing = min(30, len(joints) // (count + 1))
    for i in order:  # highest first, spread out (a second apart in long clips)
        if all(abs(int(i) - c) >= spacing for c in chosen):
            chosen.append(int(i))
        if len(chosen) == count:
            break
    return sorted(chosen)


def draw_pair(ax, human_ros: np.ndarray, robot_points: np.ndarray, robot_bones, title: str) -> None:
    centre = human_ros[0, :2].copy()
    human = human_ros - [centre[0], centre[1] + BESIDE, 0]  # REP-103 y is left: the viewer's right
    robot = robot_points - [robot_points[0, 0], robot_points[0, 1] - BESIDE, 0]
    for j, parent in enumerate(body.PARENTS):
        if parent >= 0:
            segment = human[[parent, j]]
            ax.plot(segment[:, 0], segment[:, 1], segment[:, 2], color=HUMAN_COLORS[_side(j)], lw=2.2)
    ax.scatter(*human.T, s=6, color="#444444")
    for a, b in robot_bones:
        segment = robot[[a, b]]
        ax.plot(segment[:, 0], segment[:, 1], segment[:, 2], color=ROBOT_COLOR, lw=1.6)
    ax.scatter(*robot.T, s=7, color="#ff7f0e", depthshade=False)
    floor = np.array([[-0.5, -1.0], [0.5, -1.0], [0.5, 1.0], [-0.5, 1.0], [-0.5, -1.0]])
    ax.plot(floor[:, 0], floor[:, 1], 0, color="#bbbbbb", lw=0.8)
    ax.set_xlim(-0.8, 0.8)
    ax.set_ylim(-0.8, 0.8)
    ax.set_zlim(0.0, 1.9)
    ax.set_box_aspect((1, 1, 1.19))
    ax.view_init(elev=12, azim=-25)  # seen from the front, a little to the side
    ax.set_axis_off()
    ax.set_title(title, fontsize=9)


def load_clips(archive: Path | None, fps: float = 30.0) -> list[tuple[str, np.ndarray]]:
    """(action, joints on the template skeleton): the bundled walk, and a wave and a raise
    from the archive when it is given."""
    from ..paths import SAMPLE_CLIP
    from ..readers.bandai import read_bandai

    clips = [("walk", features.retarget_to_template(read_bandai(SAMPLE_CLIP, target_fps=fps).joints))]
    wanted = {
        "dataset-2_wave-right-hand_normal_001.bvh": "wave",
        "dataset-2_raise-up-both-hands_normal_001.bvh": "arms raised",
    }
    if archive is not None and archive.is_file():
        from ..readers.sources import iter_archive

        found = {}
        for name, text, label_json in iter_archive(archive):
            if name in wanted:
                clip = read_bandai(name, text=text, label_json=label_json, target_fps=fps)
                found[wanted[name]] = features.retarget_to_template(clip.joints)
                if len(found) == len(wanted):
                    break
        clips += [(action, found[action]) for action in wanted.values() if action in found]
    return clips


def render(out: Path, robot: str = "g1", archive: Path | None = None, frames_per_clip: int = 3) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    retargeter = Retargeter(robot, RetargetOptions())
    extra = [p for p in ROBOT_POINTS if retargeter.robot.has_frame(p)]
    clips = load_clips(archive)
    fig = plt.figure(figsize=(2.6 * frames_per_clip, 3.4 * len(clips)), dpi=100)
    for row, (action, joints) in enumerate(clips):
        result = retargeter.retarget_clip(joints, 30.0, joint_angles.global_rotations_from_joints(joints))
        human_ros, _ = to_ros(joints, np.broadcast_to(np.eye(3), joints.shape + (3,)))
        for col, t in enumerate(pick_frames(joints, action, frames_per_clip)):
            points, bones = retargeter.robot.skeleton(result.q[t], extra)
            ax = fig.add_subplot(len(clips), frames_per_clip, row * frames_per_clip + col + 1, projection="3d")
            draw_pair(ax, human_ros[t], points, bones, f"{action}, {t / 30:.1f} s")
    fig.suptitle(f"human (left, SMPL-22) -> {retargeter.map.name} (right, URDF joint frames)", fontsize=11)
    fig.subplots_adjust(left=0, right=1, bottom=0, top=0.93, wspace=0, hspace=0.05)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/retarget_g1.png"))
    parser.add_argument("--robot", default="g1")
    parser.add_argument("--archive", type=Path, help="Bandai archive for the wave and the raise (default: $EGO4O_DATA)")
    args = parser.parse_args(argv)
    archive = args.archive
    if archive is None:
        from ..paths import bandai_archive

        try:
            archive = bandai_archive()
        except FileNotFoundError:
            archive = None
    print(render(args.out, args.robot, archive))
    return 0


if __name__ == "__main__":
    sys.exit(main())
