"""The reference transformer baseline and the trivial reference rows.

    from facebench.baseline import FaceTransformer, train, predict

Names load lazily, so importing the package does not import torch.
"""

from __future__ import annotations

_NAMES = {
    "FaceTransformer": "facebench.baseline.model",
    "ModelConfig": "facebench.baseline.config",
    "TrainConfig": "facebench.baseline.config",
    "CONFIGS": "facebench.baseline.config",
    "get_config": "facebench.baseline.config",
    "train": "facebench.baseline.train",
    "predict": "facebench.baseline.predict",
    "METHODS": "facebench.baseline.predict",
    "load_model": "facebench.baseline.checkpoint",
    "save_checkpoint": "facebench.baseline.checkpoint",
    "train_step": "facebench.baseline.engine",
    "StepBatches": "facebench.baseline.engine",
    "Dist": "facebench.baseline.runtime",
}

__all__ = sorted(_NAMES)


def __getattr__(name):
    if name in _NAMES:
        import importlib

        return getattr(importlib.import_module(_NAMES[name]), name)
    raise AttributeError(f"module 'facebench.baseline' has no attribute {name!r}")
