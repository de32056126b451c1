"""Checkpoints: weights as safetensors, metadata as JSON, optimizer state as a
weights-only torch file (loaded with ``weights_only=True``, never arbitrary pickles).

A checkpoint ``NAME`` is the pair ``NAME.safetensors`` + ``NAME.json``; the JSON
holds the model config (so the weights load without guessing), the training
config, the step and, for the shipped model, how it was trained.
"""

from __future__ import annotations

import json
from pathlib import Path

from facebench.errors import InputError

SHIPPED_DIR = Path(__file__).resolve().parent / "checkpoints"
# the default: ``tiny`` trained on ICT subjects (canonical space ict-light); ``tiny-head`` is the
# checkpoint trained on procedural facebench-head subjects that the synth-v1 leaderboard was made with
SHIPPED = SHIPPED_DIR / "tiny.safetensors"


def shipped_checkpoints() -> list[str]:
    """Names of the checkpoints shipped in the package (``--checkpoint NAME`` accepts them)."""
    return sorted(p.stem for p in SHIPPED_DIR.glob("*.safetensors"))


def resolve_checkpoint(path=None) -> Path:
    """A checkpoint argument -> its ``.safetensors`` path: None is the shipped default, a bare
    shipped name (``tiny``, ``tiny-head``) is that shipped checkpoint, anything else a path."""
    if path is None:
        return SHIPPED
    if str(path) in shipped_checkpoints():  # a stem: no folder, no suffix
        return SHIPPED_DIR / f"{path}.safetensors"
    path = Path(path)
    return path if path.suffix == ".safetensors" else path.with_suffix(".safetensors")


def save_checkpoint(path, model, meta: dict) -> Path:
    """Write ``path`` (.safetensors) and its ``.json`` sidecar atomically; returns the weights path."""
    from safetensors.torch import save_file

    path = Path(path).with_suffix(".safetensors")
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    meta = {**meta, "model": model.config.to_dict()}
    tmp = path.with_suffix(".safetensors.tmp")
    save_file(state, str(tmp), metadata={"format": "pt"})
    tmp.replace(path)
    json_tmp = path.with_suffix(".json.tmp")
    json_tmp.write_text(json.dumps(meta, indent=2, sort_keys=True))
    json_tmp.replace(path.with_suffix(".json"))
    return path


def read_meta(path) -> dict:
    path = Path(path).with_suffix(".json")
    if not path.is_file():
        raise InputError("checkpoint metadata (.json next to the .safetensors) not found", path=path)
    return json.loads(path.read_text())


def load_model(path=None, device="cpu"):
    """Build the model from a checkpoint (default: the shipped ``tiny``; a bare shipped name such as
    ``tiny-head`` picks that one, see :func:`resolve_checkpoint`); returns (model, meta)."""
    from safetensors.torch import load_file

    from facebench.baseline.config import ModelConfig
    from facebench.baseline.model import FaceTransformer

    weights = resolve_checkpoint(path)
    if not weights.is_file():
        raise InputError("checkpoint not found", path=weights)
    meta = read_meta(weights)
    model = FaceTransformer(ModelConfig.from_dict(meta["model"]))
    model.load_state_dict(load_file(str(weights), device=str(device)))
    return model.to(device).eval(), meta


def save_training_state(path, optimizer, scheduler, rng: dict) -> None:
    """Optimizer / scheduler state and RNG states for exact resumption."""
    import torch

    tmp = Path(str(path) + ".tmp")
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng": rng}, tmp)
    tmp.replace(path)


def load_training_state(path) -> dict:
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)
