"""Training windows and the on-disk cache they live in (ROS-free).

A clip (``MotionClip``) becomes windows of ``window`` model frames: each window is
moved into its canonical frame (``features.window_frame``), turned into HumanML3D
features, and paired with the IMU readings of the same frames in the same frame.

Cache layout (one folder)::

    manifest.json         config, and per clip: split, windows, descriptions, source
    clips/<name>.npz      per clip: features (N, W, 263), joints (N, W, 22, 3),
                          imu_acc (N, W, 5, 3), imu_ori (N, W, 5, 3, 3), start (N,),
                          yaw (N,), translation (N, 3)   [float32; world -> canonical],
                          length (N,) valid rows: takes shorter than a window get
                          one window padded by holding their last pose
    stats.npz             feature mean/std over the training windows
    packed/<split>/       the split's windows in one uncompressed .npy per array (plus
                          clip_index.npy and names.json), written once from clips/ and
                          read a batch of rows at a time (``WindowStore``): training memory
                          does not grow with the data
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from . import features
from .clip import MotionClip, resample
from .imu import ImuSynthesisConfig, synthesize_from_clip

CACHE_VERSION = 2  # 2: windows canonicalised with the features' facing (features.window_frame)
WINDOW_ARRAYS = ("features", "joints", "imu_acc", "imu_ori", "start", "yaw", "translation", "length")


@dataclass(frozen=True)
class DatasetConfig:
    fps: float = 30.0  # model rate: clips are resampled to it
    window: int = 64  # feature rows (model frames) per window
    stride: int = 32  # frames between window starts
    min_frames: int = 16  # shorter takes are skipped; longer ones padded to a window
    validation_percent: float = 10.0
    gravity: str = "included"  # synthesised accelerometers: "included" or "removed"
    feature_smoothing_s: float = 1.0

    def __post_init__(self):
        if self.window < 4 or self.stride < 1 or self.fps <= 0 or self.min_frames < 2:
            raise ValueError(f"bad dataset config: {self}")
        if not 0 <= self.validation_percent <= 100:
            raise ValueError("validation_percent must be within 0..100")

    @property
    def feature_config(self) -> features.FeatureConfig:
        return features.FeatureConfig(fps=self.fps, facing_smoothing_s=self.feature_smoothing_s)

    def digest(self) -> str:
        text = json.dumps({"version": CACHE_VERSION, **asdict(self)}, sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:12]


def split_of(take: str, validation_percent: float) -> str:
    """Stable train/validation assignment of a take (all its clips go together)."""
    bucket = int(hashlib.sha1(take.encode()).hexdigest(), 16) % 10000
    return "validation" if bucket < validation_percent * 100 else "train"


def window_starts(num_frames: int, window: int, stride: int) -> list[int]:
    """Starts of windows of ``window + 1`` frames (W feature rows need W + 1 poses);
    a last window flush with the clip's end covers the tail."""
    last = num_frames - window - 1
    if last < 0:
        return []
    starts = list(range(0, last + 1, stride))
    if starts[-1] != last:
        starts.append(last)
    return starts


def pad_clip(clip: MotionClip, num_frames: int) -> MotionClip:
    """Hold the last frame until the clip has ``num_frames`` frames."""

    def hold(x):
        return None if x is None else np.concatenate([x, np.repeat(x[-1:], num_frames - len(x), 0)])

    return replace(
        clip,
        joints=hold(clip.joints),
        global_rotations=hold(clip.global_rotations),
        imu_acc=hold(clip.imu_acc),
        imu_ori=hold(clip.imu_ori),
    )


def clip_windows(clip: MotionClip, config: DatasetConfig) -> dict[str, np.ndarray]:
    """Cut a clip (already at the template's bone lengths) into canonical windows."""
    clip = resample(clip, config.fps)
    valid_rows = clip.num_frames - 1
    if clip.num_frames < config.min_frames:
        return {}
    if clip.num_frames < config.window + 1:
        clip = pad_clip(clip, config.window + 1)
    imu = synthesize_from_clip(clip, ImuSynthesisConfig(gravity=config.gravity))
    acc, ori = (clip.imu_acc, clip.imu_ori) if clip.imu_acc is not None else (imu.acc, imu.ori)
    out: dict[str, list] = {key: [] for key in WINDOW_ARRAYS}
    W = config.window
    for start in window_starts(clip.num_frames, W, config.stride):
        poses = clip.joints[start : start + W + 1]
        frame = features.window_frame(poses, config.feature_config)
        canonical = frame.points(poses)
        out["features"].append(features.features_from_joints(canonical, config.feature_config, canonicalize=False))
        out["joints"].append(canonical[:W])
        out["imu_acc"].append(frame.vectors(acc[start : start + W]))
        out["imu_ori"].append(frame.orientations(ori[start : start + W]))
        out["start"].append(start)
        out["yaw"].append(frame.yaw)
        out["translation"].append(frame.translation)
        out["length"].append(min(W, valid_rows - start))
    if not out["start"]:
        return {}
    arrays = {key: np.asarray(value) for key, value in out.items()}
    return {key: (value.astype(np.float32) if value.dtype == np.float64 else value) for key, value in arrays.items()}


@dataclass
class Manifest:
    """What the cache holds; written atomically so an interrupted build loses little."""

    config: dict
    digest: str
    clips: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def load_or_new(cls, path: Path, config: DatasetConfig) -> Manifest:
        if path.exists():
            data = json.loads(path.read_text())
            if data.get("digest") == config.digest():
                return cls(data["config"], data["digest"], data["clips"])
        return cls(asdict(config), config.digest())

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"config": self.config, "digest": self.digest, "clips": self.clips}, indent=1))
        os.replace(tmp, path)


def save_windows(path: Path, windows: dict[str, np.ndarray]) -> None:
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez(tmp, **windows)
    os.replace(tmp, path)


class MotionCache:
    """Read access to a built cache: ``MotionCache(folder).load("train")``."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        manifest = self.folder / "manifest.json"
        if not manifest.exists():
            raise FileNotFoundError(
                f"no dataset cache at {self.folder} (missing {manifest}); build one with ego4o-build-dataset"
            )
        data = json.loads(manifest.read_text())
        self.config = DatasetConfig(**data["config"])
        self.clips = {name: entry for name, entry in data["clips"].items() if entry.get("windows")}

    def names(self, split: str | None = None) -> list[str]:
        return sorted(n for n, e in self.clips.items() if split is None or e["split"] == split)

    def collection(self, name: str) -> str:
        """The source a clip was built from (``cache_builder.collection_name``); caches built
        before collections were recorded hold one source: ``"default"``."""
        return self.clips[name].get("collection", "default")

    def load_clip(self, name: str) -> dict[str, np.ndarray]:
        with np.load(self.folder / "clips" / f"{name}.npz", allow_pickle=False) as data:
            return {key: data[key] for key in data.files}

    def load(self, split: str, names: list[str] | None = None) -> dict[str, np.ndarray]:
        """All windows of a split, concatenated, plus ``clip_index`` into ``names``."""
        names = self.names(split) if names is None else names
        parts = [self.load_clip(n) for n in names]
        if not parts:
            raise ValueError(f"{self.folder}: no clips in split {split!r}")
        out = {key: np.concatenate([p[key] for p in parts]) for key in WINDOW_ARRAYS}
        out["clip_index"] = np.concatenate([np.full(len(p["start"]), i) for i, p in enumerate(parts)])
        return out

    def normalizer(self) -> features.FeatureNormalizer:
        return features.FeatureNormalizer.load(self.folder / "stats.npz")

    def windows(self, split: str, progress: bool = False) -> WindowStore:
        """The split's windows on disk, packed on first use (or when the clips changed)."""
        names = self.names(split)
        if not names:
            raise ValueError(f"{self.folder}: no clips in split {split!r}")
        folder = self.folder / "packed" / split
        key = hashlib.sha1(json.dumps([[n, self.clips[n]["windows"]] for n in names]).encode()).hexdigest()[:16]

        def current() -> bool:
            return (folder / "names.json").exists() and json.loads((folder / "names.json").read_text())["key"] == key

        if not current():
            import fcntl

            folder.parent.mkdir(parents=True, exist_ok=True)
            # One packer at a time (make train starts ego4o and the peer together); the
            # others wait and find it packed.
            with open(folder.parent / f"{split}.lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                if not current():
                    pack_windows(self, names, folder, key, progress)
        return WindowStore(folder)


PACKED_ARRAYS = ("features", "joints", "imu_acc", "imu_ori", "start", "length")


def pack_windows(cache: MotionCache, names: list[str], folder: Path, key: str, progress: bool = False) -> None:
    """Write ``names``' windows as one .npy per array, clip by clip (memory: one clip), into a
    temporary folder renamed at the end, so an interrupted pack is simply redone."""
    import shutil

    from tqdm import tqdm

    counts = [int(cache.clips[n]["windows"]) for n in names]
    first = cache.load_clip(names[0])
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    outputs = {
        k: np.lib.format.open_memmap(tmp / f"{k}.npy", "w+", first[k].dtype, (sum(counts),) + first[k].shape[1:])
        for k in PACKED_ARRAYS
    }
    row = 0
    for name, count in tqdm(list(zip(names, counts)), desc=f"packing {folder.name}", unit="clip", disable=not progress):
        clip = cache.load_clip(name)
        for k, out in outputs.items():
            out[row : row + count] = clip[k]
        row += count
    for out in outputs.values():
        out.flush()
    del outputs
    np.save(tmp / "clip_index.npy", np.repeat(np.arange(len(names)), counts))
    (tmp / "names.json").write_text(json.dumps({"key": key, "names": names}))
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)


class WindowStore:
    """One split's packed windows: ``read(array, rows)`` maps the file, copies the rows and
    lets the mapping go, so only what a batch needs is ever in memory."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.names = json.loads((self.folder / "names.json").read_text())["names"]
        self.clip_index = np.load(self.folder / "clip_index.npy")
        self.start = self.read("start")
        self.length = self.read("length")

    def __len__(self) -> int:
        return len(self.clip_index)

    def shape(self, array: str) -> tuple[int, ...]:
        return np.load(self.folder / f"{array}.npy", mmap_mode="r").shape

    def read(self, array: str, rows=slice(None)) -> np.ndarray:
        return np.array(np.load(self.folder / f"{array}.npy", mmap_mode="r")[rows])
