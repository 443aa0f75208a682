"""BVH (Biovision Hierarchy) reader with forward kinematics, numpy only.

Conventions
-----------
* Joints are listed in file order (depth first), so a parent always comes before its
  children; ``parents[j] == -1`` marks the root. Only one ROOT per file is supported.
* An ``End Site`` becomes a leaf joint named ``<parent>_end`` with no channels and
  ``is_end_site[j] == True``; it is there so that FK gives the tip of the last bone.
* Rotation channels are degrees. Their order in ``CHANNELS`` is the Euler order, with
  BVH's intrinsic semantics: ``R = R_first @ R_second @ R_third``
  (``rotations.euler_to_matrix``). Matrices act on column vectors.
* Position channels: with ``position_channels="replace"`` (the default) a joint's
  channel values *are* its local translation for the axes they name, replacing the
  OFFSET on those axes; that is what MotionBuilder exports (e.g. the Bandai-Namco
  dataset, where every joint has 6 channels and non-root position channels repeat the
  offsets). ``"add"`` gives ``OFFSET + values`` instead.
* Forward kinematics: ``global_rot[j] = global_rot[parent] @ local_rot[j]`` and
  ``pos[j] = pos[parent] + global_rot[parent] @ local_translation[j]``; lengths are in
  the file's units (often centimetres).

Broken files raise :class:`BvhError` (a ``ValueError``) whose message names the file
and the 1-based line number of the problem.
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass, field
from typing import NoReturn

import numpy as np

from ..core.rotations import euler_to_matrix

__all__ = ["BvhError", "BvhMotion", "read_bvh", "parse_bvh", "POSITION_CHANNEL_MODES"]

POSITION_CHANNEL_MODES = ("replace", "add")

# Canonical channel names, looked up case-insensitively: name -> (kind, axis index).
_CHANNELS = {f"{axis}{kind}": (kind, i) for kind in ("position", "rotation") for i, axis in enumerate("XYZ")}
_CHANNEL_BY_LOWER = {name.lower(): name for name in _CHANNELS}

# Braces are tokens of their own even when glued to a word ("Hips{", "}}").
_HIERARCHY_TOKEN = re.compile(r"[{}]|[^\s{}]+")
_FRAMES_LINE = re.compile(r"frames\s*:\s*(\S*)", re.IGNORECASE)
_FRAME_TIME_LINE = re.compile(r"frame\s*time\s*:\s*(\S*)", re.IGNORECASE)


class BvhError(ValueError):
    """A malformed BVH file; ``path`` and ``line`` (1-based, or None) locate the problem."""

    def __init__(self, path: str, line: int | None, message: str):
        self.path, self.line, self.reason = path, line, message
        where = f"{path}, line {line}" if line is not None else path
        super().__init__(f"{where}: {message}")


@dataclass(eq=False, repr=False)
class BvhMotion:
    """A parsed BVH file: skeleton, per-frame local transforms and the raw channel data."""

    path: str
    joint_names: list[str]
    parents: np.ndarray  # (J,) int, -1 for the root
    offsets: np.ndarray  # (J, 3) OFFSET of each joint in its parent's frame
    is_end_site: np.ndarray  # (J,) bool
    channels: list[list[str]]  # per joint, canonical names in file order
    frame_time: float  # seconds per frame
    local_rotations: np.ndarray  # (T, J, 3, 3)
    local_translations: np.ndarray  # (T, J, 3) translation from the parent joint
    channel_values: np.ndarray | None = None  # (T, C) the MOTION block as read
    _index: dict | None = field(default=None, init=False)

    @property
    def num_frames(self) -> int:
        return int(self.local_rotations.shape[0])

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time

    def index(self, name: str) -> int:
        """Index of the joint called ``name``; KeyError listing the names otherwise."""
        if self._index is None:
            self._index = {n: j for j, n in enumerate(self.joint_names)}
        try:
            return self._index[name]
        except KeyError:
            raise KeyError(f"no joint {name!r} in {self.path}; joints are: {', '.join(self.joint_names)}") from None

    def forward_kinematics(self) -> tuple[np.ndarray, np.ndarray]:
        """Global joint positions (T, J, 3) and rotations (T, J, 3, 3) in the file's world."""
        local_rot, local_trans = self.local_rotations, self.local_translations
        global_rot = np.empty_like(local_rot)
        positions = np.empty_like(local_trans)
        for j, parent in enumerate(self.parents):
            if parent < 0:
                global_rot[:, j] = local_rot[:, j]
                positions[:, j] = local_trans[:, j]
                continue
            parent_rot = global_rot[:, parent]
            global_rot[:, j] = parent_rot @ local_rot[:, j]
            positions[:, j] = positions[:, parent] + (parent_rot @ local_trans[:, j, :, None])[..., 0]
        return positions, global_rot

    def __repr__(self) -> str:
        return f"BvhMotion({self.path!r}, joints={self.num_joints}, frames={self.num_frames}, fps={self.fps:g})"


def read_bvh(path: str | os.PathLike, *, position_channels: str = "replace") -> BvhMotion:
    """Read and parse the BVH file at ``path``."""
    with open(path, "rb") as f:
        data = f.read()
    return parse_bvh(data, os.fspath(path), position_channels=position_channels)


def parse_bvh(text: str | bytes, path: str = "<string>", *, position_channels: str = "replace") -> BvhMotion:
    """Parse BVH ``text`` (e.g. a tar member's bytes); ``path`` is only used in messages."""
    if position_channels not in POSITION_CHANNEL_MODES:
        raise ValueError(f"position_channels must be one of {POSITION_CHANNEL_MODES}, got {position_channels!r}")
    if isinstance(text, (bytes, bytearray, memoryview)):
        text = _decode(bytes(text))
    text = text.removeprefix("\ufeff")
    if "\r" in text:  # CRLF or old-Mac CR: one '\n' per line keeps line numbers simple
        text = text.replace("\r\n", "\n").replace("\r", "\n")

    skeleton, pos, line_no = _parse_hierarchy(text, path)
    num_frames, frame_time, pos, line_no = _parse_motion_header(text, pos, line_no, path)
    num_channels = sum(len(c) for c in skeleton.channels)
    if num_channels == 0:
        raise BvhError(path, skeleton.motion_line, "the hierarchy declares no channels")
    values = _parse_frames(text[pos:], num_frames, num_channels, line_no, path)
    local_rot, local_trans = _local_transforms(skeleton, values, position_channels)
    return BvhMotion(
        path=path,
        joint_names=skeleton.names,
        parents=np.asarray(skeleton.parents, dtype=np.int64),
        offsets=np.asarray(skeleton.offsets, dtype=np.float64).reshape(-1, 3),
        is_end_site=np.asarray(skeleton.is_end_site, dtype=bool),
        channels=skeleton.channels,
        frame_time=frame_time,
        local_rotations=local_rot,
        local_translations=local_trans,
        channel_values=values,
    )


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:  # old exporters write Latin-1 joint names
        return data.decode("latin-1")


# ------------------------------------------------------------------ hierarchy
class _Skeleton:
    def __init__(self):
        self.names: list[str] = []
        self.parents: list[int] = []
        self.offsets: list[tuple[float, float, float] | None] = []
        self.is_end_site: list[bool] = []
        self.channels: list[list[str]] = []
        self.declared_line: list[int] = []
        self.motion_line = 0

    def add(self, name: str, parent: int, end_site: bool, line: int) -> int:
        self.names.append(name)
        self.parents.append(parent)
        self.offsets.append(None)
        self.is_end_site.append(end_site)
        self.channels.append([])
        self.declared_line.append(line)
        return len(self.names) - 1


def _lines_from(text: str, pos: int, line_no: int):
    """Yield (line_number, line, position after the line) from ``pos`` without
    splitting the whole text (the MOTION block can be megabytes)."""
    while pos < len(text):
        end = text.find("\n", pos)
        if end < 0:
            end = len(text)
        yield line_no, text[pos:end], end + 1
        pos, line_no = end + 1, line_no + 1


def _parse_hierarchy(text: str, path: str) -> tuple[_Skeleton, int, int]:
    """Parse up to and including the MOTION line; returns (skeleton, next pos, next line)."""
    sk = _Skeleton()
    stack: list[int] = []  # joints whose '{' is open
    pending: int | None = None  # joint declared, waiting for its '{'
    seen_header = False
    last_line = 0

    def fail(line: int, message: str) -> NoReturn:
        raise BvhError(path, line, message)

    for line_no, line, next_pos in _lines_from(text, 0, 1):
        last_line = line_no
        tokens = _HIERARCHY_TOKEN.findall(line)
        i = 0
        while i < len(tokens):
            token = tokens[i]
            keyword = token.upper()
            i += 1
            if not seen_header:
                if keyword != "HIERARCHY":
                    fail(line_no, f"expected 'HIERARCHY' at the start of the file, got {token!r}")
                seen_header = True
                continue
            if keyword == "MOTION":
                if i < len(tokens):
                    fail(line_no, f"unexpected {tokens[i]!r} after MOTION")
                if pending is not None:
                    fail(line_no, f"joint {sk.names[pending]!r} (line {sk.declared_line[pending]}) has no '{{'")
                if stack:
                    j = stack[-1]
                    fail(
                        line_no,
                        f"unbalanced braces: joint {sk.names[j]!r} declared at line "
                        f"{sk.declared_line[j]} is not closed before MOTION",
                    )
                if not sk.names:
                    fail(line_no, "no ROOT in the HIERARCHY section")
                sk.motion_line = line_no
                return sk, next_pos, line_no + 1
            if pending is not None and keyword != "{":
                fail(line_no, f"expected '{{' after the declaration of {sk.names[pending]!r}, got {token!r}")

            if keyword in ("ROOT", "JOINT"):
                name_tokens = []
                while i < len(tokens) and tokens[i] not in "{}":
                    name_tokens.append(tokens[i])
                    i += 1
                name = " ".join(name_tokens)
                if not name:
                    fail(line_no, f"{keyword} without a name")
                if keyword == "ROOT":
                    if sk.names:
                        fail(line_no, "a second ROOT: only one skeleton per file is supported")
                    parent = -1
                else:
                    if not stack:
                        fail(line_no, f"JOINT {name!r} outside of any joint (unbalanced braces?)")
                    parent = stack[-1]
                    if sk.is_end_site[parent]:
                        fail(line_no, f"JOINT {name!r} inside an End Site")
                if name in sk.names:
                    fail(
                        line_no,
                        f"duplicate joint name {name!r} (first at line {sk.declared_line[sk.names.index(name)]})",
                    )
                pending = sk.add(name, parent, False, line_no)
            elif keyword in ("END", "ENDSITE"):
                if keyword == "END":
                    if i >= len(tokens) or tokens[i].upper() != "SITE":
                        fail(line_no, "expected 'End Site'")
                    i += 1
                if not stack or sk.is_end_site[stack[-1]]:
                    fail(line_no, "End Site outside of a joint")
                parent = stack[-1]
                name = f"{sk.names[parent]}_end"
                suffix = 2
                while name in sk.names:  # a joint with several End Sites
                    name, suffix = f"{sk.names[parent]}_end{suffix}", suffix + 1
                pending = sk.add(name, parent, True, line_no)
            elif keyword == "{":
                if pending is None:
                    fail(line_no, "'{' without a ROOT, JOINT or End Site before it")
                stack.append(pending)
                pending = None
            elif keyword == "}":
                if not stack:
                    fail(line_no, "unbalanced braces: '}' without a matching '{'")
                j = stack.pop()
                if sk.offsets[j] is None:
                    fail(line_no, f"joint {sk.names[j]!r} has no OFFSET")
            elif keyword == "OFFSET":
                if not stack:
                    fail(line_no, "OFFSET outside of a joint")
                j = stack[-1]
                if sk.offsets[j] is not None:
                    fail(line_no, f"second OFFSET for joint {sk.names[j]!r}")
                numbers = tokens[i : i + 3]
                if len(numbers) != 3:
                    fail(line_no, f"OFFSET needs 3 numbers, got {len(numbers)}")
                sk.offsets[j] = tuple(_number(n, path, line_no, "OFFSET value") for n in numbers)
                i += 3
            elif keyword == "CHANNELS":
                if not stack:
                    fail(line_no, "CHANNELS outside of a joint")
                j = stack[-1]
                if sk.is_end_site[j]:
                    fail(line_no, "an End Site cannot have CHANNELS")
                if sk.channels[j]:
                    fail(line_no, f"second CHANNELS for joint {sk.names[j]!r}")
                if i >= len(tokens) or not tokens[i].isdigit():
                    fail(line_no, "CHANNELS must be followed by a channel count")
                count = int(tokens[i])
                names = tokens[i + 1 : i + 1 + count]
                if len(names) != count:
                    fail(line_no, f"CHANNELS declares {count} channels but lists {len(names)}")
                sk.channels[j] = [_channel_name(n, path, line_no) for n in names]
                _check_repeated_positions(sk.channels[j], path, line_no)
                i += 1 + count
            else:
                fail(line_no, f"unexpected {token!r} in the HIERARCHY section")

    if not seen_header:
        raise BvhError(path, None, "empty file (no HIERARCHY)")
    if stack:
        j = stack[-1]
        fail(
            last_line,
            f"unbalanced braces: joint {sk.names[j]!r} declared at line "
            f"{sk.declared_line[j]} is never closed, and there is no MOTION section",
        )
    fail(last_line, "the file ends without a MOTION section")


def _number(token: str, path: str, line: int, what: str) -> float:
    try:
        return float(token)
    except ValueError:
        raise BvhError(path, line, f"{what} {token!r} is not a number") from None


def _channel_name(token: str, path: str, line: int) -> str:
    name = _CHANNEL_BY_LOWER.get(token.lower())
    if name is None:
        raise BvhError(path, line, f"unknown channel {token!r} (known: {', '.join(_CHANNELS)})")
    return name


def _check_repeated_positions(channels: list[str], path: str, line: int) -> None:
    positions = [c for c in channels if c.endswith("position")]
    if len(set(positions)) != len(positions):
        raise BvhError(path, line, f"a position channel is repeated in {channels}")


def _parse_motion_header(text: str, pos: int, line_no: int, path: str) -> tuple[int, float, int, int]:
    """Read 'Frames:' and 'Frame Time:' (blank lines allowed around them)."""
    found: dict[str, tuple[str, int]] = {}
    last_line = line_no - 1
    for number, line, next_pos in _lines_from(text, pos, line_no):  # noqa: B007 (next_pos is read after the loop)
        last_line = number
        stripped = line.strip()
        if not stripped:
            continue
        pattern, key = (_FRAMES_LINE, "frames") if "frames" not in found else (_FRAME_TIME_LINE, "frame time")
        match = pattern.fullmatch(stripped)
        if match is None:
            expected = "Frames: <count>" if key == "frames" else "Frame Time: <seconds>"
            raise BvhError(path, number, f"expected '{expected}', got {stripped[:60]!r}")
        found[key] = (match.group(1), number)
        if key == "frame time":
            break
    else:
        raise BvhError(path, last_line, "the file ends inside the MOTION header (needs 'Frames:' and 'Frame Time:')")
    frames_text, frames_line = found["frames"]
    if not frames_text.isdigit():
        raise BvhError(path, frames_line, f"frame count {frames_text!r} is not a whole number")
    time_text, time_line = found["frame time"]
    frame_time = _number(time_text, path, time_line, "frame time")
    if not frame_time > 0:
        raise BvhError(path, time_line, f"frame time must be positive, got {time_text!r}")
    return int(frames_text), frame_time, next_pos, number + 1


# ------------------------------------------------------------------ motion block
# What a frame value may look like (the same forms np.loadtxt accepts).
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?(?:nan|inf|infinity)", re.IGNORECASE)


def _parse_frames(block: str, num_frames: int, num_channels: int, first_line: int, path: str) -> np.ndarray:
    """The frame lines as a (num_frames, num_channels) array.

    Fast path: one np.loadtxt call (C parser; blank lines skipped, every row checked for
    the same column count), then only the shape is compared. Anything unexpected goes
    to a slow line-by-line pass whose only job is to name the offending line.
    """
    if num_frames > 0:
        try:
            values = np.loadtxt(io.StringIO(block), dtype=np.float64, comments=None, ndmin=2)
        except ValueError:
            values = None
        if values is not None and values.shape == (num_frames, num_channels):
            return values
    return _parse_frames_slowly(block, num_frames, num_channels, first_line, path)


def _parse_frames_slowly(block: str, num_frames: int, num_channels: int, first_line: int, path: str) -> np.ndarray:
    rows: list[list[float]] = []
    last_frame_line = first_line - 1
    lines = block.split("\n")
    for line_no, line in enumerate(lines, start=first_line):
        tokens = line.split()
        if not tokens:
            continue
        if len(rows) == num_frames:
            raise BvhError(path, line_no, f"more frame lines than 'Frames: {num_frames}' declares")
        if len(tokens) != num_channels:
            is_last = not "".join(lines[line_no - first_line + 1 :]).strip()
            hint = " (the file looks truncated)" if is_last and len(tokens) < num_channels else ""
            raise BvhError(
                path,
                line_no,
                f"frame {len(rows) + 1} has {len(tokens)} values, "
                f"expected {num_channels} (the channels of the "
                f"hierarchy){hint}",
            )
        for token in tokens:
            if _NUMBER.fullmatch(token) is None:
                raise BvhError(path, line_no, f"{token[:40]!r} is not a number")
        rows.append([float(t) for t in tokens])
        last_frame_line = line_no
    if len(rows) < num_frames:
        raise BvhError(
            path,
            last_frame_line + 1,
            f"truncated: the file ends after {len(rows)} of the {num_frames} frames that 'Frames:' declares",
        )
    return np.array(rows, dtype=np.float64).reshape(num_frames, num_channels)


# ------------------------------------------------------------------ local transforms
def _local_transforms(sk: _Skeleton, values: np.ndarray, position_mode: str) -> tuple[np.ndarray, np.ndarray]:
    num_frames, num_joints = values.shape[0], len(sk.names)
    offsets = np.asarray(sk.offsets, dtype=np.float64).reshape(num_joints, 3)
    local_rot = np.broadcast_to(np.eye(3), (num_frames, num_joints, 3, 3)).copy()
    local_trans = np.broadcast_to(offsets, (num_frames, num_joints, 3)).copy()

    rotation_columns: dict[str, tuple[list[int], list[list[int]]]] = {}
    pos_joint, pos_axis, pos_column = [], [], []
    column = 0
    for j, channels in enumerate(sk.channels):
        order, columns = "", []
        for name in channels:
            kind, axis = _CHANNELS[name]
            if kind == "rotation":
                order += "XYZ"[axis]
                columns.append(column)
            else:
                pos_joint.append(j)
                pos_axis.append(axis)
                pos_column.append(column)
            column += 1
        if order:
            joints, cols = rotation_columns.setdefault(order, ([], []))
            joints.append(j)
            cols.append(columns)

    # One batched Euler conversion per distinct rotation order.
    for order, (joints, cols) in rotation_columns.items():
        angles = np.deg2rad(values[:, np.asarray(cols)])  # (T, n_joints, len(order))
        local_rot[:, joints] = euler_to_matrix(angles, order)

    if pos_joint:
        from_channels = values[:, pos_column]
        if position_mode == "add":
            local_trans[:, pos_joint, pos_axis] += from_channels
        else:
            local_trans[:, pos_joint, pos_axis] = from_channels
    return local_rot, local_trans
