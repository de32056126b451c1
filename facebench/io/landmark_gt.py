"""Reading a landmark GT folder (real photos with human iBUG-68 labels), as written by
:func:`facebench.prepare.real_landmarks.prepare_real_landmarks`: the reader side lives here so
that evaluation, reports and methods never import ``prepare``."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from facebench.errors import FacebenchError, InputError

KIND = "landmarks"


def is_landmark_gt(gt_dir) -> bool:
    """True for a GT folder written by ``facebench prepare real-landmarks``."""
    path = Path(gt_dir) / "manifest.json"
    if not path.is_file():
        return False
    try:
        return json.loads(path.read_text()).get("kind") == KIND
    except (OSError, json.JSONDecodeError):
        return False


class LandmarkGT:
    """A landmark GT folder: ``clip_ids``, ``item(id)``, ``image(id)``, ``landmarks(id)``."""

    def __init__(self, gt_dir):
        self.dir = Path(gt_dir)
        path = self.dir / "manifest.json"
        if not is_landmark_gt(self.dir):
            raise InputError("not a landmark GT folder (run `facebench prepare real-landmarks`)", self.dir)
        raw = path.read_bytes()
        self.manifest = json.loads(raw)
        self.manifest_sha256 = hashlib.sha256(raw).hexdigest()
        self.benchmark = self.manifest["benchmark"]
        self.template_name = self.manifest["template"]
        self._items = {e["id"]: e for e in self.manifest["items"]}
        self.clip_ids = list(self._items)

    def item(self, cid: str) -> dict:
        if cid not in self._items:
            raise FacebenchError(f"unknown clip {cid!r} in {self.dir}")
        return self._items[cid]

    def image(self, cid: str) -> np.ndarray:
        from PIL import Image  # the PNG prepare wrote (8-bit RGB)

        with Image.open(self.dir / self.item(cid)["image"]) as im:
            return np.asarray(im.convert("RGB"))

    def landmarks(self, cid: str) -> np.ndarray:
        return np.asarray(self.item(cid)["landmarks"], np.float64)
