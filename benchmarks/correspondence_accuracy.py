"""Accuracy of template correspondences where the truth is known.

1. facebench-head registered onto a copy of itself with another identity, 10 % larger and
   moved (vertex i <-> vertex i is the true correspondence): per-vertex error.
2. A synthetic ict-light subject (tiny capture, 2 frames): its exact GT canonical maps mapped
   into facebench-head space and back; error per GT mask label.

    python benchmarks/correspondence_accuracy.py
"""

import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from facebench.io.shards import GTReader
from facebench.synth.api import synthesize
from facebench.templates import load
from facebench.templates.correspondence import get_correspondence, register
from facebench.templates.template import Template


def stats(e):
    p95 = np.percentile(e, 95)
    return f"median {np.median(e):.2f} mm, mean {e.mean():.2f} mm, p95 {p95:.2f} mm (n={len(e)})"


def known_truth():
    head = load("facebench-head")
    arrays = head.arrays()
    vertices = head.deform(identity=np.random.default_rng(1).normal(size=head.n_identity) * 1.5)
    arrays["canonical_vertices"] = vertices * 1.1 + np.array([0.01, -0.02, 0.03])
    other = Template("head-other", arrays)
    err = np.linalg.norm(register(head, other) - other.canonical_vertices, axis=1) * 1000
    for label, name in ((1, "face"), (2, "scalp"), (3, "ears"), (4, "neck")):
        print(f"known truth, {name}: {stats(err[head.regions == label])}")


def synthetic_subject():
    with tempfile.TemporaryDirectory() as tmp:
        gt = Path(tmp) / "gt"
        synthesize(Path(tmp) / "cap", preset="tiny", template="ict-light", truth_gt=gt, frames=2, sequences=1,
                   progress=False, n_tracks=16)
        there = get_correspondence("ict-light", "facebench-head")
        back = get_correspondence("facebench-head", "ict-light")
        errors, labels = [], []
        with GTReader(gt) as reader:
            for cid in reader.clip_ids:
                clip = reader.clip(cid, fields=("mask", "canonical"))
                ok = np.isfinite(clip.canonical).all(-1)
                c = clip.canonical[ok]
                e = np.linalg.norm(back.convert(there.convert(c)) - c, axis=1)
                errors.append(e * reader.scale * 1000)
                labels.append(clip.mask[ok])
    e, m = np.concatenate(errors), np.concatenate(labels)
    for label, name in ((1, "face"), (2, "other template regions"), (3, "off-template foreground")):
        print(f"ict-light subject -> facebench-head -> ict-light, mask {label} ({name}): "
              f"{stats(e[m == label])}")
    print(f"all GT-valid pixels: {stats(e)}")


if __name__ == "__main__":
    known_truth()
    synthetic_subject()
