"""Writing a predictions folder (SPEC §5): meta.json and one ``.npz`` per clip.

Every writer of predictions (importers, adapters, ``evaluate_model``,
``tracks-from-canonical``, canonical conversion) goes through these two
functions, so files are checked against the schema and replaced atomically.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from facebench.errors import ValidationError
from facebench.io.predictions import KEYS, check_meta


def write_meta(out_dir, meta: dict) -> Path:
    """Check ``meta`` (SPEC §5 fields) and write ``out_dir/meta.json``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "meta.json"
    path.write_text(json.dumps(check_meta(dict(meta)), indent=2))
    return path


def write_clip(out_dir, clip_id: str, arrays: dict) -> Path:
    """Write one clip's arrays to ``out_dir/{clip_id}.npz`` (temporary file, then rename).

    Keys must be prediction keys; floats are stored as float32, visibility as bool.
    Shapes are checked against the GT when the folder is validated or scored.
    """
    unknown = sorted(set(arrays) - set(KEYS))
    if unknown:
        raise ValidationError(f"{clip_id}: unknown prediction key {unknown[0]!r} (keys: {', '.join(KEYS)})")
    out = {k: np.asarray(v, dtype=bool if KEYS[k].kind == "bool" else np.float32) for k, v in arrays.items()}
    path = Path(out_dir) / f"{clip_id}.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}.npz")
    try:
        np.savez_compressed(tmp, **out)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
