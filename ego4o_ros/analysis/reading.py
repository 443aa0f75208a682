"""Reading a recording: rosbag2 (MCAP or sqlite3) or ROS 1 bag -> sensor streams and
the other topics, ROS-free (``rosbags``).

The wearable topics and their conventions come from the same parameters the fusion
node reads (``config/capture.yaml``, section ``fusion``: ``imu_sites``,
``imu.<site>.topic/acc_unit/gravity_included/acc_frame/world_frame/frame_id``,
``max_sensor_age``), and every sample goes through ``live/sensors.to_body_frame``, so
a bag analysed here and streamed through the fusion node use identical numbers.
Samples the fusion node would drop (NaN, non-unit quaternion, no orientation, wrong
frame_id, absurd acceleration, repeated stamps) are dropped and counted by the same
reasons (``live/sensors.REJECT_REASONS``).

A rosbag2 MCAP bag whose recorder was killed (no metadata.yaml, torn end) is copied
and repaired with ``core/bag.repair_bag`` (the input is never modified) and read up to
the break; ``Recording.notes`` says so.
"""

from __future__ import annotations

import dataclasses
import fcntl
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from .. import interface
from ..core import imu
from ..core.bag import LOCK_NAME, BagError, needs_repair, repair_bag
from ..live.sensors import MAX_ACCELERATION, REJECT_REASONS, ImuConvention, to_body_frame
from .cdr import decode_imu, decode_pose_array

# What the analysis publishes itself: the recorded live versions are kept under live/.
OUTPUT_TOPICS = (
    interface.JOINT_STATES,
    interface.JOINT_POSES,
    interface.SKELETON_MARKERS,
    interface.SMPL_POSE,
    interface.DESCRIPTION,
    interface.DESCRIPTION_STAMPED,
    interface.TEXT_INPUT,
)
TRUTH_TOPIC = interface.GROUND_TRUTH_POSES
CAMERA_TOPICS = {
    "sensor_msgs/msg/Image": interface.CAMERA_IMAGE,
    "sensor_msgs/msg/CompressedImage": interface.CAMERA_COMPRESSED,
}


@dataclass(frozen=True)
class SensorSetup:
    """Which topic is which body site, and how each device reports (the fusion node's parameters)."""

    topics: dict[str, str]  # site -> topic (relative names match any namespace)
    conventions: dict[str, ImuConvention]
    max_sensor_age_s: float = 0.15
    image_max_age_s: float = 0.15  # a camera frame older than this is not used
    lookahead_frames: int = 2  # the live run's; reported only
    caption_period_s: float = 3.0  # the captioning node's ``period``
    caption_min_frames: int = 32


def _flatten(params: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in params.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def load_sensor_setup(params: str | Path | None = None) -> SensorSetup:
    """The fusion node's defaults overridden by a parameter file (default
    ``config/capture.yaml``); nested (``imu: {head: {acc_unit: g}}``) or dotted keys."""
    from ..paths import share_file

    path = Path(params) if params else share_file("config", "capture.yaml")
    document = yaml.safe_load(path.read_text()) or {}

    def section(name):
        node = document.get(name) or document.get(f"/{name}") or {}
        return _flatten(node.get("ros__parameters", {}) if isinstance(node, dict) else {})

    fusion, captioning = section("fusion"), section("captioning")
    sites = fusion.get("imu_sites", list(imu.IMU_SITES))
    unknown = [s for s in sites if s not in imu.IMU_SITES]
    if unknown:
        raise ValueError(f"{path}: imu_sites: unknown sites {unknown}; sites are {imu.IMU_SITES}")
    topics, conventions = {}, {}
    defaults = ImuConvention()
    for site in sites:
        topics[site] = str(fusion.get(f"imu.{site}.topic", interface.imu_topic(site)))
        conventions[site] = ImuConvention(
            **{
                f.name: type(getattr(defaults, f.name))(fusion.get(f"imu.{site}.{f.name}", getattr(defaults, f.name)))
                for f in dataclasses.fields(ImuConvention)
            }
        )
    return SensorSetup(
        topics,
        conventions,
        float(fusion.get("max_sensor_age", 0.15)),
        float(fusion.get("image_max_age", 0.15)),
        int(fusion.get("lookahead_frames", 2)),
        float(captioning.get("period", 3.0)),
        int(captioning.get("min_frames", 32)),
    )


def topic_matches(bag_topic: str, wanted: str, namespaced: bool = True) -> bool:
    """``/imu/head`` matches ``imu/head`` and, with ``namespaced``, so does
    ``/ns/imu/head``; an absolute ``wanted`` must match exactly."""
    if wanted.startswith("/"):
        return bag_topic == wanted
    return bag_topic.lstrip("/") == wanted or (namespaced and bag_topic.endswith("/" + wanted))


@dataclass
class ImuStream:
    """One sensor's accepted samples in the model frame, in stamp order."""

    site: str
    topic: str
    stamps_ns: np.ndarray  # (N,) int64
    acc: np.ndarray  # (N, 3) m/s^2, body-frame world axes, gravity included
    ori: np.ndarray  # (N, 3, 3) world-from-sensor, body-frame axes
    rejected: dict[str, int]

    @property
    def rate_hz(self) -> float:
        if len(self.stamps_ns) < 2:
            return 0.0
        return (len(self.stamps_ns) - 1) / ((self.stamps_ns[-1] - self.stamps_ns[0]) * 1e-9)


@dataclass
class TopicCopy:
    """A topic to copy into the output bag unchanged (CDR; ROS 1 data converted)."""

    topic: str
    msgtype: str
    msgdef: str
    rihs01: str
    qos: list
    stamps_ns: list[int] = field(default_factory=list)
    data: list[bytes] = field(default_factory=list)


@dataclass
class CameraFrames:
    """The recorded head-camera frames (raw or compressed), in stamp order, undecoded:
    ``pixels(i)`` decodes one (the fusion node's checks and decoders)."""

    stamps_ns: np.ndarray  # (N,) int64, header stamps
    frames: list[tuple]  # ("raw", encoding, height, width, step, data) or ("compressed", format, data)
    rejected: int = 0  # frames the fusion node would refuse (bad encoding or size, corrupt data)

    def pixels(self, i: int) -> np.ndarray:
        from ..live import images

        frame = self.frames[i]
        if frame[0] == "raw":
            return images.decode_raw(*frame[1:])
        return images.decode_compressed(frame[2])


@dataclass
class Recording:
    path: Path
    storage: str  # "mcap", "sqlite3" or "ros1"
    imu: dict[str, ImuStream]
    truth: tuple[np.ndarray, np.ndarray] | None  # stamps ns (N,), joints (N, 22, 3) REP-103
    live: tuple[np.ndarray, np.ndarray] | None  # the recorded live joint_poses, same layout
    live_descriptions: list[tuple[int, str]]
    copies: list[TopicCopy]
    start_ns: int
    end_ns: int
    messages: int
    notes: list[str] = field(default_factory=list)
    camera: CameraFrames | None = None

    @property
    def duration_s(self) -> float:
        return (self.end_ns - self.start_ns) * 1e-9


def _storage_of(path: Path) -> str:
    if path.is_file():
        if path.suffix == ".bag":
            return "ros1"
        raise ValueError(f"{path}: not a rosbag2 directory or a ROS 1 .bag file")
    if not path.is_dir():
        raise FileNotFoundError(f"no bag at {path}")
    if list(path.glob("*.mcap")):
        return "mcap"
    if list(path.glob("*.db3")):
        return "sqlite3"
    raise ValueError(f"{path}: a directory without .mcap or .db3 files is not a rosbag2 bag")


def _still_recording(path: Path) -> bool:
    lock = path / LOCK_NAME
    if not lock.exists():
        return False
    with lock.open("a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
    return False


def readable_copy(path: Path, work: Path) -> tuple[Path, list[str]]:
    """``path`` itself, or a repaired copy in ``work`` when its recorder was killed."""
    if path.is_file() or not needs_repair(path):
        return path, []
    if _still_recording(path):
        raise BagError(f"{path} is still being recorded; analyse it once the recorder has stopped")
    if not list(path.glob("*.mcap")):
        raise BagError(f"{path} has no metadata.yaml and is not MCAP: only MCAP bags can be repaired")
    copy = work / path.name
    shutil.rmtree(copy, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    shutil.copytree(path, copy, ignore=shutil.ignore_patterns(LOCK_NAME))
    size = sum(f.stat().st_size for f in path.glob("*.mcap"))
    repair_bag(copy)
    kept = sum(f.stat().st_size for f in copy.glob("*.mcap"))
    return copy, [
        f"The recorder of this bag did not finish it (killed or crashed): the bag was repaired "
        f"(a copy; the input is unchanged) and analysed up to the break "
        f"({size / 1e6:.2f} MB of MCAP data, every complete chunk kept: {kept / 1e6:.2f} MB rewritten)."
    ]


def read_recording(path: str | Path, setup: SensorSetup, work: Path, keep_copies: bool = True) -> Recording:
    """Everything the analysis needs from one bag (see the module doc)."""
    from rosbags.highlevel import AnyReader

    from ..core.bag import standard_typestore

    path = Path(path)
    storage = _storage_of(path)
    readable, notes = readable_copy(path, work)
    raw: dict[str, list[bytes]] = {site: [] for site in setup.topics}
    ros1_imu: dict[str, list] = {site: [] for site in setup.topics}
    poses_raw: dict[str, list[bytes]] = {"truth": [], "live": []}
    descriptions: list[tuple[int, str]] = []
    camera: list[tuple[int, tuple]] = []  # (stamp ns, frame)
    camera_rejected = 0
    copies: dict[int, TopicCopy] = {}
    messages, start_ns, end_ns = 0, None, None
    with AnyReader([readable], default_typestore=standard_typestore()) as reader:
        store = reader.typestore
        site_of, role = {}, {}
        for connection in reader.connections:
            for site, topic in setup.topics.items():
                if connection.msgtype == "sensor_msgs/msg/Imu" and topic_matches(connection.topic, topic):
                    site_of[connection.id] = site
            if connection.msgtype == "geometry_msgs/msg/PoseArray":
                if topic_matches(connection.topic, TRUTH_TOPIC):
                    role[connection.id] = "truth"
                elif topic_matches(connection.topic, interface.JOINT_POSES, namespaced=False):
                    role[connection.id] = "live"
            if connection.msgtype in CAMERA_TOPICS and topic_matches(
                connection.topic, CAMERA_TOPICS[connection.msgtype]
            ):
                role[connection.id] = "camera"
            if connection.msgtype == "std_msgs/msg/String" and topic_matches(
                connection.topic, interface.DESCRIPTION, namespaced=False
            ):
                role[connection.id] = "description"
            if keep_copies:
                name = connection.topic
                if any(topic_matches(name, t, namespaced=False) for t in OUTPUT_TOPICS):
                    name = "/live/" + name.lstrip("/")  # the recorded live output, beside ours
                qos = list(getattr(connection.ext, "offered_qos_profiles", []) or [])
                msgdef = store.generate_msgdef(connection.msgtype, ros_version=2)[0]
                copies[connection.id] = TopicCopy(
                    name, connection.msgtype, msgdef, store.hash_rihs01(connection.msgtype), qos
                )
        ros1 = storage == "ros1"
        for connection, timestamp, data in reader.messages():
            messages += 1
            start_ns = timestamp if start_ns is None else min(start_ns, timestamp)
            end_ns = timestamp if end_ns is None else max(end_ns, timestamp)
            cid = connection.id
            if ros1:  # ROS 1 serialisation: through the bag's own types (its Header has seq) to CDR
                msg = store.deserialize_ros1(data, connection.msgtype)
                cdr = bytes(store.serialize_cdr(msg, connection.msgtype))
                if cid in site_of:
                    ros1_imu[site_of[cid]].append(msg)
            else:
                cdr = bytes(data)
                if cid in site_of:
                    raw[site_of[cid]].append(cdr)
            kind = role.get(cid)
            if kind in ("truth", "live"):
                poses_raw[kind].append(cdr)
            elif kind == "description":
                descriptions.append((timestamp, store.deserialize_cdr(cdr, connection.msgtype).data))
            elif kind == "camera":
                frame = _camera_frame(store.deserialize_cdr(cdr, connection.msgtype))
                if frame is None:
                    camera_rejected += 1
                else:
                    camera.append(frame)
            if cid in copies:
                copies[cid].stamps_ns.append(timestamp)
                copies[cid].data.append(cdr)
    if messages == 0:
        raise BagError(f"{path}: the bag holds no messages")
    streams = {}
    for site in setup.topics:
        if raw[site]:
            decoded = decode_imu(raw[site])
        elif ros1_imu[site]:
            decoded = imu_arrays(ros1_imu[site])
        else:
            continue
        streams[site] = convert_stream(site, setup.topics[site], decoded, setup.conventions[site])
    if not streams:
        raise BagError(
            f"{path}: no sensor_msgs/Imu on any of the wearable topics "
            f"{sorted(setup.topics.values())}; set them with --params (fusion: imu.<site>.topic)"
        )

    def poses(rows):
        stamps, joints = decode_pose_array(rows)
        return (stamps, joints) if len(stamps) else None

    # Merge topics that appeared on several connections (ROS 1 bags, split bags).
    merged: dict[str, TopicCopy] = {}
    for copy in copies.values():
        if copy.topic in merged:
            merged[copy.topic].stamps_ns += copy.stamps_ns
            merged[copy.topic].data += copy.data
        else:
            merged[copy.topic] = copy
    return Recording(
        path,
        storage,
        streams,
        poses(poses_raw["truth"]),
        poses(poses_raw["live"]),
        descriptions,
        [c for c in merged.values() if c.data],
        start_ns,
        end_ns,
        messages,
        notes,
        _camera_frames(camera, camera_rejected),
    )


def _camera_frame(msg) -> tuple[int, tuple] | None:
    """(stamp ns, frame) of a deserialised Image / CompressedImage, None if the fusion node would refuse it."""
    from ..live import images

    stamp = int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)
    data = bytes(msg.data)
    if hasattr(msg, "encoding"):
        if images.check_raw(msg.encoding, msg.height, msg.width, msg.step, len(data)):
            return None
        return stamp, ("raw", msg.encoding, int(msg.height), int(msg.width), int(msg.step), data)
    if images.check_compressed(msg.format, data):
        return None
    return stamp, ("compressed", msg.format, data)


def _camera_frames(camera: list[tuple[int, tuple]], rejected: int) -> CameraFrames | None:
    if not camera and not rejected:
        return None
    camera.sort(key=lambda x: x[0])
    return CameraFrames(np.array([s for s, _ in camera], np.int64), [f for _, f in camera], rejected)


def imu_arrays(messages: list) -> dict[str, np.ndarray]:
    """Deserialised ``sensor_msgs/Imu`` messages -> the arrays of ``cdr.decode_imu``."""
    return {
        "stamp_ns": np.array([m.header.stamp.sec * 1_000_000_000 + m.header.stamp.nanosec for m in messages], np.int64),
        "quat_xyzw": np.array(
            [(m.orientation.x, m.orientation.y, m.orientation.z, m.orientation.w) for m in messages], np.float64
        ),
        "acc": np.array(
            [(m.linear_acceleration.x, m.linear_acceleration.y, m.linear_acceleration.z) for m in messages], np.float64
        ),
        "has_orientation": np.array([m.orientation_covariance[0] != -1.0 for m in messages]),
        "has_acceleration": np.array([m.linear_acceleration_covariance[0] != -1.0 for m in messages]),
        "frame_id": np.array([m.header.frame_id for m in messages], object),
    }


def convert_stream(site: str, topic: str, decoded: dict[str, np.ndarray], convention: ImuConvention) -> ImuStream:
    """Decoded ``sensor_msgs/Imu`` rows -> checked samples in the model frame, by the
    fusion node's rules and ``to_body_frame`` (all rows at once)."""
    stamps, acc, quat = decoded["stamp_ns"], decoded["acc"], decoded["quat_xyzw"]
    rejected = {reason: 0 for reason in REJECT_REASONS}
    reason = np.full(len(stamps), "", object)
    finite = np.isfinite(acc).all(1) & np.isfinite(quat).all(1)
    reason[~finite] = "not_finite"
    norm = np.linalg.norm(np.where(np.isfinite(quat), quat, 0.0), axis=1)
    reason[(reason == "") & ((np.abs(norm - 1.0) > 0.1) | ~decoded["has_orientation"])] = "bad_orientation"
    if "no_acceleration" in REJECT_REASONS:  # the fusion node needs the acceleration too
        reason[(reason == "") & ~decoded["has_acceleration"]] = "no_acceleration"
    with np.errstate(invalid="ignore"):
        reason[(reason == "") & (np.linalg.norm(np.where(finite[:, None], acc, 0.0), axis=1) > MAX_ACCELERATION)] = (
            "out_of_range"
        )
    if convention.frame_id:
        reason[(reason == "") & (decoded["frame_id"] != convention.frame_id)] = "wrong_frame"
    # Offline the whole stream is known: order by stamp; a repeated stamp is dropped.
    order = np.argsort(stamps, kind="stable")
    ordered = stamps[order]
    repeat = np.zeros(len(stamps), bool)
    ok = reason[order] == ""
    kept_stamps = ordered[ok]
    dup = np.zeros(len(kept_stamps), bool)
    dup[1:] = kept_stamps[1:] == kept_stamps[:-1]
    repeat[order[np.flatnonzero(ok)[dup]]] = True
    reason[repeat] = "stamp_backwards"
    for r in REJECT_REASONS:
        rejected[r] = int((reason == r).sum())
    keep = order[reason[order] == ""]
    # The conversion of live/sensors.py on all rows at once: acc as column vectors so
    # that ``world_from_sensor @ acc`` is one matrix product per row.
    gravity = dataclasses.replace(convention, gravity_included=True)
    acc_body, ori_body = to_body_frame(acc[keep][..., None], quat[keep], gravity)
    acc_body = acc_body[..., 0]
    if not convention.gravity_included:
        acc_body = acc_body + to_body_frame(np.zeros(3), np.array([0.0, 0.0, 0.0, 1.0]), convention)[0]
    return ImuStream(site, topic, stamps[keep], acc_body, ori_body, rejected)
