"""One bag -> motion, descriptions, a bag to look at, arrays and a report (ROS-free).

Stages, each timed (``Analysis.seconds``; the process's CPU time in ``cpu_seconds``, which a
busy machine does not inflate):

* **read**: the bag's wearable topics (``reading.read_recording``), resampled onto the
  model's grid with presence (``resample.make_grid``);
* **capture**: ``StreamingCapture.forward_offline`` on each segment of the whole
  recording (both directions of context; optionally with test-time optimisation),
  with the recorded head-camera frames when the capture model takes images (each
  view time gets the newest frame at or before it, within the fusion node's
  ``image_max_age``, as live), then joint rotations and the ROS joint values for
  every frame at once;
* **captions**: the code captioner on the windows the captioning node would describe
  (every ``period`` seconds of motion);
* **text**: the live loop closed offline (``AnalysisConfig.text``): every frame captured
  again with the nearest description as the model's text input, as the fusion node
  feeds descriptions back;
* **write**: the output bag (MCAP: joint_states, joint_poses, skeleton_markers,
  description, description_stamped and every input topic; recorded live outputs
  under ``live/``), ``motion.npz`` and ``joints.csv``;
* **report**: ``report.html`` with its figures (``report.py``), scores against the
  bag's ground truth when it has some.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from ..core import body, frames, imu, joint_angles, rotations
from .reading import Recording, SensorSetup, load_sensor_setup, read_recording
from .resample import Grid, make_grid, segments
from .scoring import score

STAGES = ("read", "capture", "captions", "text", "write", "report")


@dataclass(frozen=True)
class AnalysisConfig:
    params: str | None = None  # parameter file (fusion/captioning sections); None = config/capture.yaml
    weights: str | None = None  # weights folder; None = the bundled weights
    captions: bool = True
    tto: bool = False  # test-time optimisation of every window (slow)
    copy_inputs: bool = True  # the input topics go into the output bag too
    report: bool = True
    frame_id: str = "world"
    threads: int = 0  # model threads per process; 0 = the CPUs this process may use, shared by --jobs
    backend: str = "onnxruntime"  # as the fusion node; "torch" (test-time optimisation needs it)
    text: bool = False  # the descriptions fed back as the model's text input (the live loop)
    image: bool = True  # the recorded camera frames, when the capture model takes images

    def digest(self) -> str:
        import hashlib

        return hashlib.sha1(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


def available_cpus() -> int:
    """CPUs this process may run on (its affinity, where the OS says; else all of them)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def with_threads(config: AnalysisConfig, jobs: int = 1) -> AnalysisConfig:
    """``config`` with its model threads decided: as given, or the available CPUs shared by
    ``jobs`` processes side by side (measured: 2 threads on 2 cores analyse a 9-minute bag in
    38.4 s instead of 46.4, the same descriptions and motion to the bit)."""
    return config if config.threads else replace(config, threads=max(1, available_cpus() // max(1, jobs)))


@dataclass
class Motion:
    """The offline capture on the grid. Frames no sensor covers are NaN (``valid`` False)."""

    grid: Grid
    valid: np.ndarray  # (T,) bool
    features: np.ndarray  # (T, 263)
    joints: np.ndarray  # (T, 22, 3) body frame (integrated root, per segment)
    positions_ros: np.ndarray  # (T, 22, 3) REP-103
    orientations_xyzw: np.ndarray  # (T, 22, 4) global joint rotations, REP-103 axes
    dofs: np.ndarray  # (T, 69) joint_states values (joint_angles.DOF_NAMES)
    local_rotations: np.ndarray  # (T, 22, 3, 3) parent-relative, body axes
    segments: list[tuple[int, int]]


@dataclass
class Caption:
    text: str
    start_ns: int
    end_ns: int
    source: str
    fed_back: bool = True  # taken as the capture model's text input (the LM captioner is sure enough)


@dataclass
class Analysis:
    recording: Recording
    motion: Motion
    captions: list[Caption]
    scores: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)
    outputs: dict = field(default_factory=dict)
    cpu_seconds: dict = field(default_factory=dict)


class _Chunked:
    """The window face in batches of at most ``size`` windows (large batches run slower
    per window on a CPU than moderate ones)."""

    def __init__(self, predictor, size: int = 32):
        self.inner, self.size = predictor, size

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def predict(self, imu_inputs, present, *optional):
        """``optional``: text, text_present, image, image_present, image_step (each None or (N, ...))."""
        features, ids = [], []
        for a in range(0, len(imu_inputs), self.size):
            b = a + self.size
            f, i = self.inner.predict(imu_inputs[a:b], present[a:b], *(None if x is None else x[a:b] for x in optional))
            features.append(f)
            ids.append(i)
        return np.concatenate(features), None if ids[0] is None else np.concatenate(ids)


class _TtoPredictor:
    """The WindowPredictor face with test-time optimisation of every batch of windows."""

    def __init__(self, predictor, normalizer):
        from ..models.tto import TestTimeOptimizer

        self.inner = predictor
        self.image_views = getattr(predictor, "image_views", 1)
        self.tto = TestTimeOptimizer(predictor.model, normalizer)
        self.last_confidence = None

    def predict(self, imu_inputs, present, *optional):
        """``optional`` as for ``WindowPredictor.predict`` (text, text_present, image, image_present, image_step)."""
        import torch

        from ..models.predictors import optional_tensors

        _, ids = self.inner.predict(imu_inputs, present, *optional)
        text, text_present, image, image_present, image_step = (list(optional) + [None] * 5)[:5]
        t, tp = optional_tensors(text, text_present)
        i, ip = optional_tensors(image, image_present)
        step = None if i is None or image_step is None else torch.from_numpy(np.asarray(image_step, np.int64))
        refined, _ = self.tto.refine(imu_inputs, present, t, tp, i, ip, step)
        return refined.detach().numpy(), ids


def ros_body_poses(joints: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``core/joint_angles.ros_body_pose`` for many frames at once: (N, 22, 3) body-frame
    joints -> positions (N, 22, 3) and orientations (N, 22, 4) in REP-103, joint_states
    values (N, 69), local rotations (N, 22, 3, 3)."""
    from scipy.spatial.transform import Rotation

    global_rot = joint_angles.global_rotations_from_joints(joints)
    local = joint_angles.local_rotations(global_rot)
    positions = joints @ frames.ROS_FROM_BODY.T
    orientations = rotations.matrix_to_xyzw(joint_angles.to_ros_rotation(global_rot))
    angles = Rotation.from_matrix(joint_angles.to_ros_rotation(local).reshape(-1, 3, 3)).as_euler("XYZ")
    dofs = np.concatenate([positions[:, 0], angles.reshape(len(joints), -1)], axis=1)
    return positions, orientations, dofs, local


class Analyzer:
    """The models, loaded once per process; ``analyze`` runs one bag."""

    def __init__(self, config: AnalysisConfig = AnalysisConfig()):
        import torch

        # The live graph's loaders: the same weights, normaliser and window as the fusion
        # and captioning nodes (torch here: forward_offline batches many windows).
        from ..live.capture import load_live_capture

        config = with_threads(config)
        torch.set_num_threads(config.threads)
        self.config = config
        self.setup: SensorSetup = load_sensor_setup(config.params)
        kwargs = {"weights": Path(config.weights)} if config.weights else {}
        backend = "torch" if config.tto else config.backend
        live, metadata = load_live_capture(lookahead=0, backend=backend, threads=config.threads, **kwargs)
        self.text_backend = (
            (metadata or {}).get("text_backend", "minilm")
            if isinstance(metadata, dict)
            else getattr(metadata, "text_backend", "minilm")
        )
        self._text_encoder, self._embeddings = None, {}
        self.fps = float(live.fps)
        self.capture = live.streaming
        self.image_encoder, self._image_features = None, {}  # features per camera frame index, per bag
        if config.image and getattr(metadata, "image_backend", None):
            from ..models.image_model import image_encoder_of
            from ..paths import DEFAULT_WEIGHTS

            self.image_encoder = image_encoder_of(Path(config.weights) if config.weights else DEFAULT_WEIGHTS, metadata)
        self.predictor = _Chunked(self.capture.predictor)
        self.capture.predictor = (
            _TtoPredictor(self.predictor, self.capture.normalizer) if config.tto else self.predictor
        )
        self.captioner = None
        if config.captions:
            from ..live.captioning import LiveCaptioner

            # Descriptions read the capture's part codes, not the camera (run_captions).
            self.captioner = LiveCaptioner(
                *([Path(config.weights)] if config.weights else []),
                min_frames=self.setup.caption_min_frames,
                use_image=False,
            )

    # -- stages ------------------------------------------------------------------------
    def embed(self, texts: list[str]) -> np.ndarray:
        """Text embeddings of the fusion node's text encoder, each text encoded once."""
        if self._text_encoder is None:
            from ..models.feature_encoders import make_text_encoder

            self._text_encoder = make_text_encoder(self.text_backend)
        new = sorted(set(texts) - set(self._embeddings))
        if new:
            self._embeddings.update(zip(new, self._text_encoder.encode(new)))
        return np.stack([self._embeddings[t] for t in texts])

    def camera_views(self, grid: Grid, a: int, b: int, camera) -> np.ndarray | None:
        """(V, D) image features at the view times of grid frames ``a:b``
        (``image_cache.view_frames``): the newest camera frame at or before each, within
        ``image_max_age``; NaN rows where there was none. None without a camera."""
        from ..core.camera_views import view_frames

        if camera is None or self.image_encoder is None or not len(camera.stamps_ns):
            return None
        times = grid.stamps_ns[a + view_frames(b - a)]
        newest = np.searchsorted(camera.stamps_ns, times, side="right") - 1
        seen = newest >= 0
        seen[seen] = times[seen] - camera.stamps_ns[newest[seen]] <= self.setup.image_max_age_s * 1e9
        missing = sorted(set(newest[seen].tolist()) - set(self._image_features))
        for start in range(0, len(missing), 64):  # the same features as larger batches, a quarter faster on a CPU
            chunk = missing[start : start + 64]
            encoded = self.image_encoder.encode(np.stack([camera.pixels(i) for i in chunk]))
            self._image_features.update(zip(chunk, encoded))
        views = np.full((len(times), self.image_encoder.dim), np.nan, np.float32)
        if seen.any():
            views[seen] = np.stack([self._image_features[i] for i in newest[seen]])
        return views

    def recapture_with_text(
        self, motion: Motion, captions: list[Caption], margin: int | None = None, camera=None
    ) -> Motion:
        """The live loop, offline: every frame captured again with the description whose
        window is centred nearest to it as the text input (the fusion node uses the
        latest one). Each stretch of one description runs with ``margin`` frames of
        context either side; the root is integrated over the whole segment."""
        from ..core.features import joints_from_features

        grid = motion.grid
        if not captions:
            return self._motion(grid, motion.valid, motion.features, motion.joints, motion.segments)
        margin = self.capture.window // 2 if margin is None else margin
        centres = np.array([(c.start_ns + c.end_ns) // 2 for c in captions])
        # A description the captioner was not sure of is not fed back: its stretch runs without text.
        embeddings = [e if c.fed_back else None for c, e in zip(captions, self.embed([c.text for c in captions]))]
        nearest = np.abs(grid.stamps_ns[:, None] - centres[None]).argmin(1)
        features, joints = motion.features.copy(), motion.joints.copy()
        for a, b in motion.segments:
            which = nearest[a:b]
            edges = np.flatnonzero(np.diff(which)) + 1
            for lo, hi in zip(np.concatenate([[0], edges]) + a, np.concatenate([edges, [b - a]]) + a):
                ca, cb = max(a, lo - margin), min(b, hi + margin)
                f, _ = self.capture.forward_offline(
                    grid.acc[ca:cb],
                    grid.ori[ca:cb],
                    grid.present[ca:cb],
                    embeddings[which[lo - a]],
                    views=self.camera_views(grid, ca, cb, camera),
                )
                features[lo:hi] = f[lo - ca : hi - ca]
            joints[a:b] = joints_from_features(features[a:b])
        return self._motion(grid, motion.valid, features, joints, motion.segments)

    def _motion(self, grid, valid, features, joints, runs) -> Motion:
        frames_count = len(valid)
        positions = np.full_like(joints, np.nan)
        orientations = np.full((frames_count, body.NUM_JOINTS, 4), np.nan)
        dofs = np.full((frames_count, len(joint_angles.DOF_NAMES)), np.nan)
        local = np.full((frames_count, body.NUM_JOINTS, 3, 3), np.nan)
        if valid.any():
            positions[valid], orientations[valid], dofs[valid], local[valid] = ros_body_poses(joints[valid])
        return Motion(grid, valid, features, joints, positions, orientations, dofs, local, runs)

    def run_capture(self, grid: Grid, joint_values: bool = True, camera=None) -> Motion:
        """``camera``: the recording's ``CameraFrames`` (None: IMUs only)."""
        frames_count = len(grid.stamps_ns)
        valid = np.zeros(frames_count, bool)
        features = np.full((frames_count, 263), np.nan)
        joints = np.full((frames_count, body.NUM_JOINTS, 3), np.nan)
        runs = segments(grid.present)
        for a, b in runs:
            seg_features, seg_joints = self.capture.forward_offline(
                grid.acc[a:b], grid.ori[a:b], grid.present[a:b], views=self.camera_views(grid, a, b, camera)
            )
            features[a:b], joints[a:b], valid[a:b] = seg_features, seg_joints, True
        if not joint_values:
            return Motion(grid, valid, features, joints, None, None, None, None, runs)
        return self._motion(grid, valid, features, joints, runs)

    def caption_frames(self, motion: Motion) -> list[tuple[int, int]]:
        """(segment start, frame) of every description, on the captioning node's schedule:
        once ``min_frames`` frames exist, then every ``period`` seconds of motion."""
        period_ns = int(round(self.setup.caption_period_s * 1e9))
        stamps, out = motion.grid.stamps_ns, []
        for a, b in motion.segments:
            last = None
            for i in range(a + self.captioner.min_frames - 1, b):
                if last is None or stamps[i] - last >= period_ns:
                    out.append((a, i))
                    last = stamps[i]
        return out

    def run_captions(self, motion: Motion) -> list[Caption]:
        """Descriptions of the window before each scheduled frame (as the captioning
        node describes the last window of motion it received). The code captioner reads
        the part codes the capture model predicts for that window of sensor data (all
        windows in one batch); a model without codes falls back to ``LiveCaptioner``
        re-encoding the captured joints, as the node does."""
        if self.captioner is None:
            return []
        grid, window = motion.grid, self.capture.window
        schedule = self.caption_frames(motion)
        if not schedule:
            return []
        ends = np.array([i for _, i in schedule])
        starts = np.array([a for a, _ in schedule])
        index = np.maximum(ends[:, None] - window + 1 + np.arange(window), starts[:, None])  # hold the first frame
        inputs = imu.network_inputs(grid.acc[index], grid.ori[index], grid.present[index])
        _, ids = self.predictor.predict(inputs, grid.present[index])
        first = grid.stamps_ns[index[:, 0]]
        fed_back = np.ones(len(schedule), bool)
        if ids is not None and hasattr(self.captioner, "captioner"):
            model = self.captioner.captioner
            texts = model.describe(ids)
            if self.captioner.backend == "llm":  # the LM captioner: fed back only when sure enough
                fed_back = np.array([model.feeds_back(c) for c in model.confidence(list(ids))])
            source = f"{self.captioner.source} (capture codes)"
        else:
            texts, source = [], self.captioner.source
            for n, (a, i) in enumerate(schedule):
                self.captioner.reset()
                for k in range(max(a, i - window), i + 1):
                    self.captioner.push(grid.stamps_ns[k] * 1e-9, motion.joints[k])
                description = self.captioner.describe()
                texts.append(description.text if description else "")
                fed_back[n] = description is None or description.fed_back
        return [
            Caption(text, int(s), int(grid.stamps_ns[i]), source, bool(f))
            for text, s, i, f in zip(texts, first, ends, fed_back)
            if text
        ]

    def analyze(self, bag: str | Path, out_dir: Path, progress=None) -> Analysis:
        """Run every stage on one bag, writing into ``out_dir`` (created)."""
        from . import report, writing

        out_dir.mkdir(parents=True, exist_ok=True)
        seconds, cpu_seconds, starts = {}, {}, {}

        def stage(name):
            if progress is not None:
                progress(name)
            starts[name] = time.perf_counter(), time.process_time()

        def done(name):
            seconds[name] = time.perf_counter() - starts[name][0]
            cpu_seconds[name] = time.process_time() - starts[name][1]

        stage("read")
        recording = read_recording(bag, self.setup, out_dir / ".work", keep_copies=self.config.copy_inputs)
        grid = make_grid(recording.imu, self.fps, self.setup.max_sensor_age_s)
        done("read")
        text_loop = self.config.text and self.captioner is not None
        stage("capture")
        self._image_features = {}
        motion = self.run_capture(grid, joint_values=not text_loop, camera=recording.camera)
        if recording.camera is not None:
            used = len(self._image_features) if self.image_encoder is not None else 0
            recording.notes.append(
                f"camera: {len(recording.camera.stamps_ns)} frames ({recording.camera.rejected} refused), "
                + (
                    f"{used} encoded for the capture model"
                    if self.image_encoder
                    else "not used (image off, or a capture model without images)"
                )
            )
        done("capture")
        stage("captions")
        captions = self.run_captions(motion)
        done("captions")
        if text_loop:
            stage("text")
            motion = self.recapture_with_text(motion, captions, camera=recording.camera)
            done("text")
        analysis = Analysis(recording, motion, captions, seconds=seconds, cpu_seconds=cpu_seconds)
        stage("write")
        analysis.outputs.update(writing.write_outputs(analysis, out_dir, self.config))
        done("write")
        stage("report")  # scores and the report
        analysis.scores = score(analysis)
        if self.config.report:
            analysis.outputs.update(report.write_report(analysis, out_dir))
        done("report")
        import shutil

        shutil.rmtree(out_dir / ".work", ignore_errors=True)
        return analysis
