"""Rest-pose joints of the SMPL-22 body, built in or from a user's SMPL model file.

Frame: SMPL's model frame, metres, Y up, the rest (T-)pose faces +Z, +X is the
body's left (the same axes as the body frame in ``core/frames.py``).

SMPL poses a body about its rest joints ``J``: the root orientation turns the body
about the rest pelvis ``J[0]`` and the translation ``trans`` is added afterwards, so
the posed pelvis in the data's world is ``trans + J[0]`` (``J[0]`` is *not* rotated).
Readers therefore need both the offsets ``J[j] - J[parent[j]]`` and ``J[0]``.

Model files are read with ``np.load(..., allow_pickle=False)`` only: SMPL's official
``.pkl`` files are pickles and are never unpickled here (see ``PKL_HELP``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core import body

# Rest pelvis of the neutral SMPL body (betas = 0) in the model frame, metres.
# Approximate. In the data's world it is a constant shift of the whole clip, which
# the per-window canonical frame (floor at y = 0, root at x = z = 0) removes.
BUILTIN_PELVIS_REST = np.array([0.0, -0.223, 0.028])

PKL_HELP = (
    "convert it once to .npz in a trusted environment: load it with the "
    "official SMPL/smplx code and np.savez the arrays v_template, shapedirs, "
    "J_regressor (dense, e.g. .toarray()) and kintree_table"
)


@dataclass(frozen=True)
class SmplJointTemplate:
    """Rest offsets of the SMPL-22 joints and the rest pelvis position.

    offsets: (22, 3) metres, ``J[j] - J[parent[j]]`` in the model frame (row 0 is 0).
    pelvis_rest: (3,) metres, ``J[0]`` in the model frame.
    source: where the numbers came from (for messages and provenance).
    """

    offsets: np.ndarray
    pelvis_rest: np.ndarray
    source: str

    def __post_init__(self):
        if np.shape(self.offsets) != (body.NUM_JOINTS, 3) or np.shape(self.pelvis_rest) != (3,):
            raise ValueError(
                f"{self.source}: offsets must be (22, 3) and pelvis_rest (3,), "
                f"got {np.shape(self.offsets)} and {np.shape(self.pelvis_rest)}"
            )

    @classmethod
    def builtin(cls) -> SmplJointTemplate:
        """The approximate neutral body (``body.SMPL_REST_OFFSETS``, ``BUILTIN_PELVIS_REST``).

        Shape parameters (betas) are ignored: every subject gets the same skeleton.
        """
        offsets = np.array(body.SMPL_REST_OFFSETS, dtype=np.float64)
        offsets[0] = 0.0
        return cls(offsets, BUILTIN_PELVIS_REST.copy(), "builtin neutral SMPL (betas ignored)")

    @classmethod
    def from_model_file(cls, path: str | Path, betas: np.ndarray | None = None) -> SmplJointTemplate:
        """Rest joints of a SMPL / SMPL-H / SMPL-X model ``.npz`` for shape ``betas``.

        Needs keys v_template (V, 3), shapedirs (V, 3, B), J_regressor (J, V) dense,
        kintree_table (2, J). ``J = J_regressor @ (v_template + shapedirs @ betas)``;
        betas longer than B are cut to B, shorter ones padded with zeros.
        """
        path = Path(path)
        if path.suffix.lower() == ".pkl":
            raise ValueError(
                f"{path}: SMPL .pkl model files are pickles and are not loaded (unpickling can run code); {PKL_HELP}"
            )
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: _get(npz, key, path) for key in ("v_template", "shapedirs", "J_regressor", "kintree_table")}
        v_template = arrays["v_template"].astype(np.float64)
        shapedirs = arrays["shapedirs"].astype(np.float64)
        regressor = arrays["J_regressor"].astype(np.float64)
        kintree = arrays["kintree_table"]
        num_vertices = len(v_template)
        if (
            v_template.shape != (num_vertices, 3)
            or shapedirs.ndim != 3
            or shapedirs.shape[:2] != (num_vertices, 3)
            or regressor.ndim != 2
            or regressor.shape[1] != num_vertices
            or kintree.ndim != 2
            or kintree.shape[0] != 2
        ):
            raise ValueError(
                f"{path}: inconsistent shapes v_template {v_template.shape}, "
                f"shapedirs {shapedirs.shape}, J_regressor {regressor.shape}, "
                f"kintree_table {kintree.shape}"
            )
        if len(regressor) < body.NUM_JOINTS or kintree.shape[1] < body.NUM_JOINTS:
            raise ValueError(f"{path}: the model has fewer than {body.NUM_JOINTS} joints")
        parents = kintree[0, : body.NUM_JOINTS].astype(np.int64)
        if tuple(parents[1:]) != body.PARENTS[1:]:
            raise ValueError(
                f"{path}: kintree_table parents {parents.tolist()} of the first "
                f"22 joints differ from SMPL-22's {list(body.PARENTS)}"
            )
        coefficients = np.zeros(shapedirs.shape[2])
        if betas is not None:
            betas = np.asarray(betas, np.float64).reshape(-1)[: len(coefficients)]
            coefficients[: len(betas)] = betas
        joints = regressor[: body.NUM_JOINTS] @ (v_template + shapedirs @ coefficients)
        offsets = joints - joints[list(body.PARENTS)]
        offsets[0] = 0.0
        return cls(offsets, joints[0].copy(), str(path))


def _get(npz, key: str, path: Path) -> np.ndarray:
    if key not in npz.files:
        raise KeyError(f"{path}: SMPL model file lacks key {key!r} (has {sorted(npz.files)})")
    try:
        return npz[key]
    except ValueError as error:  # an object array (e.g. a pickled scipy sparse matrix)
        raise ValueError(f"{path}: key {key!r} is not a plain numeric array ({error}); {PKL_HELP}") from error
