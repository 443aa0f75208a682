"""Running a window model on streams, with the two faces TransPose has:
``forward_offline`` on whole sequences and a stateful ``reset()`` / ``step()`` online face.

Online, a sliding window of the last ``window`` frames is kept in pre-allocated ring
buffers; each ``step`` with one new IMU frame runs the model on the window and emits
the pose of the frame ``lookahead`` frames back (0 = causal). Before a full window has
arrived the frames so far fill the window's front and the newest is held after them (the
reported frame sits at its own row): held future rows cost the model less than held past
ones (docs/evaluation.md, session 15). The frame reported was also
predicted by the previous ``ensemble - 1`` windows (with less look-ahead); the report
is their weighted mean (temporal ensembling, as in action chunking): smoother output
at no extra latency or model cost. ``forward_online`` is the
same computation for a whole recorded sequence, batched (the evaluation uses it; a
test holds it equal to a loop of ``step``).

Offline, windows overlap by half and are blended (triangular weights, so a frame
leans on the window where it sits most central); the root is integrated once over
the blended sequence, so there are no resets at window borders.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass

import numpy as np

from ..core import imu
from ..core.camera_views import VIEW_FRAMES, newest_view, spaced_views, view_frame
from ..core.features import FeatureNormalizer, RootIntegrator, joints_from_features


@dataclass
class OfflineResult:
    features: np.ndarray  # (T, 263) denormalised, windows blended
    windows: np.ndarray  # (N, W, 263) each window's own features, before blending
    starts: np.ndarray  # (N,) first frame of each window
    codes: np.ndarray | None  # (N, T', parts) code ids (Ego4o only)


@dataclass
class PoseOutput:
    frame: int  # index (in steps since reset) of the frame this pose describes
    features: np.ndarray  # (263,) denormalised HumanML3D features of that frame
    joints: np.ndarray  # (22, 3) metres, in the stream's frame (integrated root)
    codes: np.ndarray | None  # (6,) code ids of the chunk holding the frame (Ego4o only)
    confidence: np.ndarray | None = None  # (6,) probability of those codes


def stream_index(window: int, ends: np.ndarray) -> np.ndarray:
    """(N, window) frame indices of the online windows whose newest frame is ``ends``: the
    last ``window`` frames, or, before that many have arrived, every frame so far with the
    newest held after them."""
    ends = np.asarray(ends)
    start = np.maximum(ends - window + 1, 0)
    return np.minimum(start[:, None] + np.arange(window), ends[:, None])


def reported_rows(window: int, lookahead: int, ends: np.ndarray) -> np.ndarray:
    """The row of each online window (newest frame ``ends``) that holds the frame it reports,
    ``lookahead`` frames before the newest."""
    return np.minimum(window - 1, np.asarray(ends)) - lookahead


def offline_starts(num_frames: int, window: int, stride: int) -> np.ndarray:
    """Window starts covering ``num_frames`` (>= window): every ``stride``, the last flush with the end."""
    starts = list(range(0, num_frames - window + 1, stride))
    if starts[-1] + window < num_frames:
        starts.append(num_frames - window)
    return np.array(starts)


def blend_weights(window: int) -> np.ndarray:
    """Triangular per-row weights: highest mid-window, small but positive at the edges."""
    rows = np.arange(window)
    return np.minimum(rows + 1, window - rows).astype(np.float64)


class StreamingCapture:
    def __init__(
        self, predictor, normalizer: FeatureNormalizer, window: int = 64, lookahead: int = 0, ensemble: int = 6
    ):
        if not 0 <= lookahead < window:
            raise ValueError(f"lookahead must be within 0..{window - 1}, got {lookahead}")
        if ensemble < 1:
            raise ValueError(f"ensemble must be >= 1, got {ensemble}")
        self.predictor, self.normalizer = predictor, normalizer
        self.window, self.lookahead = window, lookahead
        # Camera frames per window the model reads: the newest and every view_spacing views back.
        self.image_views = int(getattr(predictor, "image_views", 1))
        self.view_spacing = max(1, window // VIEW_FRAMES // self.image_views)
        # A window ending j frames earlier holds the reported frame j rows later: at most lookahead + 1.
        self.ensemble = min(ensemble, lookahead + 1)
        self.ensemble_weights = np.arange(self.ensemble, 0, -1, dtype=np.float64)  # more look-ahead, more weight
        self._acc = np.zeros((window, imu.NUM_SITES, 3))
        self._ori = np.broadcast_to(np.eye(3), (window, imu.NUM_SITES, 3, 3)).copy()
        self._present = np.zeros((window, imu.NUM_SITES), dtype=bool)
        self._order = np.arange(window)
        self.reset()

    @property
    def row(self) -> int:
        """The window row an online step reports (``lookahead`` rows before the newest)."""
        return self.window - 1 - self.lookahead

    def reset(self) -> None:
        self._count = 0
        self._root = RootIntegrator()
        self._recent: collections.deque = collections.deque(maxlen=self.ensemble)  # rows row.. of recent windows

    # ------------------------------------------------------------------ online
    def step(
        self,
        acc: np.ndarray,
        ori: np.ndarray,
        present: np.ndarray,
        text: np.ndarray | None = None,
        image: np.ndarray | None = None,
        image_age: int = 0,
    ) -> PoseOutput | None:
        """One IMU frame (5, 3) m/s^2, (5, 3, 3), (5,) bool -> the pose ``lookahead``
        frames back, or None until that frame exists. ``image``: features of the newest
        camera frame (D,), taken ``image_age`` frames before this IMU frame, or of several
        frames (K, D) with their ages (K,) (older than the window: not used)."""
        slot = self._count % self.window
        self._acc[slot], self._ori[slot], self._present[slot] = acc, ori, present
        self._count += 1
        newest = self._count - 1
        described = newest - self.lookahead
        if described < 0:
            return None
        # Oldest-to-newest order of the ring; before it is full, frames so far then the newest held.
        full = self._count >= self.window
        order = (self._order + self._count) % self.window if full else np.minimum(self._order, newest)
        row = int(reported_rows(self.window, self.lookahead, newest))
        inputs = imu.network_inputs(self._acc[order][None], self._ori[order][None], self._present[order][None])
        image_args = ()
        if image is not None:
            image = np.asarray(image, np.float32).reshape(-1, np.shape(image)[-1])
            ages = np.broadcast_to(np.asarray(image_age), (len(image),))
            image_args = self._image_args(image[None], (min(self.window - 1, newest) - ages)[None])
        features, ids = self.predictor.predict(
            inputs, self._present[order][None], *self._text_args(text, 1), *image_args
        )
        # A window reporting j frames earlier holds this frame j rows after the row it reported.
        self._recent.append(self.normalizer.denormalize(features[0, row : row + self.ensemble]))
        rows = [window[j] for j, window in enumerate(reversed(self._recent))]
        weights = self.ensemble_weights[: len(rows)]
        values = np.tensordot(weights / weights.sum(), np.stack(rows), axes=1)
        codes, confidence = self._codes_at(ids, 0, row)
        return PoseOutput(described, values, self._root.step(values), codes, confidence)

    def _codes_at(self, ids, index, row):
        if ids is None:
            return None, None
        chunk = row * ids.shape[1] // self.window
        last = getattr(self.predictor, "last_confidence", None)
        return ids[index, chunk], None if last is None else last[index, chunk]

    @staticmethod
    def _text_args(text, count: int):
        if text is None:
            return None, None
        return np.repeat(np.asarray(text, np.float32)[None], count, 0), np.ones(count, bool)

    def _image_args(self, image: np.ndarray, rows: np.ndarray) -> tuple:
        """(image, image_present, image_step) for windows (N, K, D) whose views sit at
        window rows (N, K) (outside the window: not present)."""
        rows = np.asarray(rows)
        return (
            np.asarray(image, np.float32),
            (rows >= 0) & (rows < self.window),
            np.clip(rows, 0, self.window - 1) // VIEW_FRAMES,
        )

    def _view_args(self, views: np.ndarray, newest: np.ndarray, ends: np.ndarray) -> tuple:
        """Image arguments of windows ending at frames ``ends`` (N,) from a sequence's views
        (V, D; a row of NaN where the camera had no frame): view ``newest`` (N,) and every
        ``view_spacing`` views back."""
        index = spaced_views(newest, self.image_views, self.view_spacing)  # (N, K)
        ends = np.asarray(ends)[:, None]  # a window's newest frame sits at row min(window - 1, end)
        rows = np.minimum(self.window - 1, ends) - (ends - view_frame(index))
        image = views[np.clip(index, 0, len(views) - 1)]
        seen = (index >= 0) & (index < len(views)) & np.isfinite(image).all(-1)  # NaN rows: no frame then
        return self._image_args(np.nan_to_num(image), np.where(seen, rows, -1))

    def forward_online(
        self,
        acc: np.ndarray,
        ori: np.ndarray,
        present: np.ndarray,
        text: np.ndarray | None = None,
        batch: int = 256,
        views: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """What ``reset()`` then ``step()`` on every frame of a sequence (T, 5, ...) gives,
        computed in batches: features (T - lookahead, 263), joints (T - lookahead, 22, 3)
        with the root integrated as ``step`` does, and each reported pose in the frame of
        the window that produced it (T - lookahead, 22, 3; what evaluation scores).
        ``views``: (V, D) features of camera frames at ``view_frames`` (every step's last
        frame); each window uses the newest one (and ``image_views`` - 1 older ones), as
        the live camera's newest frames."""
        frames = len(acc)
        ends = np.arange(self.lookahead, frames)
        if not len(ends):
            return np.zeros((0, len(self.normalizer.mean))), np.zeros((0, 22, 3)), np.zeros((0, 22, 3))
        heads, tails = [], []  # rows up to the reported one; the reported row and the ensemble's
        rows = reported_rows(self.window, self.lookahead, ends)
        for start in range(0, len(ends), batch):
            chunk = ends[start : start + batch]
            index = stream_index(self.window, chunk)
            inputs = imu.network_inputs(acc[index], ori[index], present[index])
            image_args = ()
            if views is not None:
                image_args = self._view_args(views, np.minimum(newest_view(chunk), len(views) - 1), chunk)
            normalised, _ = self.predictor.predict(
                inputs, present[index], *self._text_args(text, len(index)), *image_args
            )
            values = self.normalizer.denormalize(normalised[:, : self.row + self.ensemble])
            own = rows[start : start + batch, None] + np.arange(self.ensemble)  # (n, ensemble)
            heads.append(values[:, : self.row + 1])
            tails.append(np.take_along_axis(values, own[..., None], axis=1))
        tail = np.concatenate(tails)  # (N, ensemble, 263)
        total = np.zeros(tail.shape[::2])
        weight = np.zeros((len(tail), 1))
        for j, w in enumerate(self.ensemble_weights):  # window i - j holds frame i at its row + j
            total[j:] += w * tail[: len(tail) - j, j]
            weight[j:] += w
        features = total / weight
        root = RootIntegrator()
        stream = np.stack([root.step(row) for row in features])
        # Each reported pose in its window's frame: that window's rows before it, then the ensembled
        # row (rows after it do not move it: the root is integrated forwards).
        head = np.concatenate(heads)
        head[np.arange(len(head)), rows] = features
        window_joints = joints_from_features(head)[np.arange(len(head)), rows]
        return features, stream, window_joints

    # ------------------------------------------------------------------ offline
    def forward_offline(
        self,
        acc: np.ndarray,
        ori: np.ndarray,
        present: np.ndarray,
        text: np.ndarray | None = None,
        stride: int | None = None,
        views: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Whole sequence (T, 5, ...) -> features (T, 263) and joints (T, 22, 3): windows
        every ``stride`` frames (default half a window) blended, root integrated once."""
        features = self.offline(acc, ori, present, text, stride, views).features
        return features, joints_from_features(features)

    def offline(self, acc, ori, present, text=None, stride: int | None = None, views=None) -> OfflineResult:
        """Blended features, and each window's own features and codes. ``views``: (V, D)
        camera features at ``view_frames``; each window uses the one nearest its middle
        (one view per window), or its last and the ones spaced back from it (several)."""
        frames = len(acc)
        if frames < self.window:  # hold the last frame to fill one window
            pad = self.window - frames
            acc, ori, present = (np.concatenate([x, np.repeat(x[-1:], pad, 0)]) for x in (acc, ori, present))
        starts = offline_starts(len(acc), self.window, stride or self.window // 2)
        index = starts[:, None] + np.arange(self.window)
        inputs = imu.network_inputs(acc[index], ori[index], present[index])
        image_args = ()
        if views is not None:
            newest = newest_view(starts + (self.window // 2 if self.image_views == 1 else self.window) - 1)
            image_args = self._view_args(views, np.clip(newest, 0, len(views) - 1), starts + self.window - 1)
        normalised, ids = self.predictor.predict(
            inputs, present[index], *self._text_args(text, len(starts)), *image_args
        )
        windows = self.normalizer.denormalize(normalised)
        return OfflineResult(blend_windows(windows, starts, len(acc))[:frames], windows, starts, ids)


def blend_windows(values: np.ndarray, starts: np.ndarray, num_frames: int) -> np.ndarray:
    """Per-window rows (N, W, D) starting at ``starts`` -> one blended sequence (T, D)."""
    window = values.shape[1]
    weights = blend_weights(window)
    total = np.zeros((num_frames, values.shape[-1]))
    weight = np.zeros((num_frames, 1))
    for start, rows in zip(starts, values):
        total[start : start + window] += rows * weights[:, None]
        weight[start : start + window] += weights[:, None]
    return total / np.maximum(weight, 1e-12)
