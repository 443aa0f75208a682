"""The out-of-distribution motion collection (``../shared/data/ood_motion``, its README says
what is in it): CMU trials on three rigs (iClone Character Creator BVH, PFNN's Daz-style BVH,
DeepMimic ``humanoid3d`` JSON), Reallusion sword-and-shield clips (poselib ``.npy``,
non-commercial), KIT-ML captions and one row per motion file in ``clips.csv``.

* **Reading**: the four archives are extracted once into a cache folder outside the
  repository (``default_cache()``, keyed by each archive's SHA-256 from ``SHA256SUMS``), then
  every file goes through ``readers.read_clip`` like any file a user passes; the per-source
  quirks live in the readers (``rigs.py``, ``deepmimic.py``, ``poselib.py``).
* **Descriptions** (no invented labels): the trial's KIT-ML caption where there is one, CMU's
  one-line trial description (``clips.csv`` ``description``), and for clips that are no CMU
  trial the words of the clip's name (``Atk_2xCombo01`` -> "attack 2x combo"; the only
  rewrites are the source's abbreviation "Atk" and typo "Dodgle").
* **Takes and split**: a clip's take is its motion, not its file: ``cmu_<SS>_<TT>`` for CMU
  trials (the same trial on two rigs, and DeepMimic's ``run_jump`` / ``run_roll``, which are
  CMU 127_28 / 127_23, share it), ``reallusion_<name>`` without the ``(0)`` of the three
  byte-identical copies, ``deepmimic_<name>`` for the other DeepMimic clips. The validation
  split is ``core.dataset.split_of(take, validation_percent)``, the same hash of the take as
  every other source, so no training clip shares a validation trial.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import shutil
import tarfile
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from ..core.clip import MotionClip
from ..core.dataset import split_of

ARCHIVES = ("iclone_cmu", "pfnn_cmu", "jump_cmu", "ase_reallusion")
GROUPS = tuple(f"ood {a}" for a in ARCHIVES)  # the evaluation's per-source groups
TABLE, CAPTIONS, SUMS = "clips.csv", "kitml_cmu_captions.json", "SHA256SUMS"
SAME_MOTION = {"humanoid3d_run_jump": "127_28", "humanoid3d_run_roll": "127_23"}  # README: DeepMimic extras
NAME_WORDS = {"atk": "attack", "dodgle": "dodge"}  # the ASE names' abbreviation and typo
LICENCES = {
    "iclone_cmu": "CMU terms (mocap.cs.cmu.edu; NSF EIA-0196217)",
    "pfnn_cmu": "CMU terms (mocap.cs.cmu.edu; NSF EIA-0196217)",
    "jump_cmu": "MIT (arpspoof/Jump) + CMU terms",
    "ase_reallusion": "Reallusion, non-commercial (NVIDIA License)",
}


@dataclass(frozen=True)
class OodItem:
    """One motion file of the collection, extracted, with what ``clips.csv`` says of it."""

    archive: str  # e.g. "iclone_cmu"
    member: str  # path inside the archive
    path: Path  # the extracted file
    name: str  # unique clip name, e.g. "iclone_cmu-001_08"
    take: str  # the motion, for the split: "cmu_01_08", "reallusion_Atk_Kick", ...
    trial: str  # CMU trial "01_08", or ""
    frames: int  # in the file (clips.csv)
    fps: float  # measured (clips.csv)
    note: str
    descriptions: tuple[str, ...]

    @property
    def group(self) -> str:
        return f"ood {self.archive}"

    def split(self, validation_percent: float) -> str:
        return split_of(self.take, validation_percent)

    def read(self, target_fps: float | None = None) -> MotionClip:
        from . import read_clip

        clip = read_clip(self.path, target_fps=target_fps)
        return replace(
            clip,
            name=self.name,
            take=self.take,
            descriptions=list(self.descriptions),
            source=f"{self.archive}.tar.xz:{self.member}",
        )


def is_collection(path: str | Path) -> bool:
    """Whether ``path`` is a folder laid out like ood_motion (clips.csv beside its archives)."""
    path = Path(path)
    return (path / TABLE).is_file() and any((path / f"{a}.tar.xz").is_file() for a in ARCHIVES)


def default_cache() -> Path:
    from ..paths import default_cache_dir

    return default_cache_dir().parent / "ood_motion"


def _sums(root: Path) -> dict[str, str]:
    sums = root / SUMS
    if not sums.is_file():
        return {}
    return {name: digest for digest, name in (line.split() for line in sums.read_text().splitlines() if line.strip())}


def extract(root: str | Path, cache: str | Path | None = None) -> dict[str, Path]:
    """Each archive of ``root`` extracted (once) under ``cache``; {archive: folder}. Only
    regular files and folders come out (``tarfile``'s "data" filter)."""
    root, cache = Path(root), Path(cache) if cache is not None else default_cache()
    sums = _sums(root)
    out = {}
    for archive in ARCHIVES:
        source = root / f"{archive}.tar.xz"
        if not source.is_file():
            continue
        key = sums.get(source.name, f"{source.stat().st_size}-{int(source.stat().st_mtime)}")[:16]
        target = cache / f"{archive}-{key}"
        if not (target / ".complete").is_file():
            cache.mkdir(parents=True, exist_ok=True)
            scratch = Path(tempfile.mkdtemp(prefix=f"{archive}-", dir=cache))
            with tarfile.open(source, "r:xz") as tar:
                tar.extractall(scratch, filter="data")
            (scratch / ".complete").write_text(str(source) + "\n")
            try:
                scratch.rename(target)
            except OSError:  # another process got there first
                shutil.rmtree(scratch, ignore_errors=True)
        out[archive] = target
    return out


def rows(root: str | Path) -> list[dict]:
    """``clips.csv``: one dict per motion file."""
    with open(Path(root) / TABLE, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def captions(root: str | Path) -> dict[str, list[str]]:
    """KIT-ML key -> its caption texts."""
    path = Path(root) / CAPTIONS
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {
        key: [a["text"].strip() for a in entry.get("annotations", []) if a.get("text")] for key, entry in data.items()
    }


def name_words(text: str) -> str:
    """``RL_Avatar_Atk_2xCombo01_Motion`` -> "attack 2x combo"; ``JumpTwist`` -> "jump twist"."""
    text = re.sub(r"^(RL_Avatar_|humanoid3d_)|_Motion$|\(\d+\)", "", text)
    text = re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Za-z])(?=\d)|_", " ", text)
    words = [NAME_WORDS.get(w.lower(), w.lower()) for w in text.split()]
    while words and re.fullmatch(r"\d{2}", words[-1]):  # take numbers: 01, 02
        words.pop()
    return " ".join(words)


def describe(row: dict, kit: dict[str, list[str]]) -> tuple[str, ...]:
    """A clip's descriptions: KIT-ML captions, CMU's trial description, else its name's words."""
    out = list(kit.get(row.get("kit_key", ""), []))
    stem = Path(row["path"]).stem
    trial = row.get("cmu_trial") or SAME_MOTION.get(stem, "")
    if trial:
        description = " ".join(row.get("description", "").split())
        if description:
            out.append(name_words(description) if re.search(r"[a-z][A-Z]", description) else description.lower())
    if not row.get("cmu_trial"):
        out.append(name_words(stem))
    return tuple(dict.fromkeys(d for d in out if d))


def take_of(row: dict) -> str:
    stem = Path(row["path"]).stem
    trial = row.get("cmu_trial") or SAME_MOTION.get(stem, "")
    if trial:
        return f"cmu_{trial}"
    if row["archive"].startswith("ase_reallusion"):
        return "reallusion_" + re.sub(r"^RL_Avatar_|_Motion$|\(\d+\)", "", stem)
    return "deepmimic_" + stem.removeprefix("humanoid3d_")


def items(root: str | Path, cache: str | Path | None = None, archives=ARCHIVES, distinct: bool = True) -> list[OodItem]:
    """Every motion file of the collection at ``root`` (extracted on first use), in
    ``clips.csv``'s order, with the kit captions for the trials that have some.
    ``distinct``: leave out byte-identical copies of a file already listed (ASE's three
    ``(0)`` files), so that no motion counts twice."""
    root = Path(root)
    folders = extract(root, cache)
    kit = captions(root)
    found, seen = [], set()
    for row in rows(root):
        archive = row["archive"].removesuffix(".tar.xz")
        if archive not in archives or archive not in folders:
            continue
        path = folders[archive] / row["path"]
        if distinct:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest in seen:
                continue
            seen.add(digest)
        found.append(
            OodItem(
                archive=archive,
                member=row["path"],
                path=path,
                name=f"{archive}-{path.stem}",
                take=take_of({**row, "archive": archive}),
                trial=row.get("cmu_trial", ""),
                frames=int(row["frames"]),
                fps=float(row["fps"]),
                note=row.get("note", ""),
                descriptions=describe(row, kit),
            )
        )
    return found


def iter_clips(
    root: str | Path,
    split: str = "all",
    validation_percent: float = 10.0,
    target_fps: float | None = None,
    cache: str | Path | None = None,
):
    """(item, MotionClip) of ``split`` ("all", "train" or "validation": by the take's hash)."""
    for item in items(root, cache):
        if split == "all" or item.split(validation_percent) == split:
            yield item, item.read(target_fps)
