"""Template correspondences (facebench.templates.correspondence) and `predictions convert`."""

import json
from pathlib import Path

import numpy as np
import pytest

from facebench.errors import FacebenchError
from facebench.templates import load
from facebench.templates.correspondence import (
    SHIPPED,
    Correspondence,
    _landmark_matrix,
    get_correspondence,
    invert,
    register,
    umeyama,
)
from facebench.templates.template import Template


@pytest.fixture(scope="module")
def head():
    return load("facebench-head")


@pytest.fixture(scope="module")
def other_head(head):
    """facebench-head with another identity, 10 % larger and moved: vertex i <-> vertex i is the truth."""
    arrays = head.arrays()
    vertices = head.deform(identity=np.random.default_rng(1).normal(size=head.n_identity) * 1.5)
    arrays["canonical_vertices"] = vertices * 1.1 + np.array([0.01, -0.02, 0.03])
    return Template("head-other", arrays)


def test_umeyama_recovers_a_similarity():
    rng = np.random.default_rng(0)
    src = rng.normal(size=(20, 3))
    angle = 0.3
    R = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    s, R2, t = umeyama(src, 2.0 * src @ R.T + [1, 2, 3])
    assert s == pytest.approx(2.0) and np.allclose(R2, R) and np.allclose(t, [1, 2, 3])


def test_registration_against_a_known_correspondence(head, other_head, tmp_path):
    X = register(head, other_head)
    err = np.linalg.norm(X - other_head.canonical_vertices, axis=1) * 1000
    face = head.regions == 1
    assert np.median(err[face]) < 1.5 and err[face].mean() < 3.0  # measured 0.72 / 1.74 mm
    forward = Correspondence(head, other_head, X)
    lmk = _landmark_matrix(head) @ X - _landmark_matrix(other_head) @ other_head.canonical_vertices
    lmk = np.linalg.norm(lmk, axis=1)
    assert lmk.mean() < 0.5e-3
    backward = invert(forward)
    c = head.normalize(head.canonical_vertices[face][::7])
    back = backward.convert(forward.convert(c))
    assert np.median(np.linalg.norm(back - c, axis=1) * head.scale * 1000) < 0.1
    assert np.isnan(forward.convert(np.full((2, 3), np.nan))).all()


def test_computed_once_then_cached(head, other_head, tmp_path):
    first = get_correspondence(head, other_head, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) == 2  # both directions
    again = get_correspondence(head, other_head, cache_dir=tmp_path)
    np.testing.assert_allclose(again.vertices, first.vertices, atol=1e-6)
    assert again.metrics["landmark_mm"]["mean"] < 0.5
    reverse = get_correspondence(other_head, head, cache_dir=tmp_path)
    assert reverse.vertices.shape == (other_head.n_vertices, 3)


def test_shipped_pair_matches_the_templates(head):
    ict = load("ict-light")
    for a, b in ((head, ict), (ict, head)):
        path = SHIPPED / f"{a.name}--{b.name}.npz"
        with np.load(path) as z:
            assert str(z["source_sha256"]) == a.sha256 and str(z["target_sha256"]) == b.sha256, \
                "stale: run python benchmarks/make_correspondences.py"
        corr = get_correspondence(a, b, cache_dir="/nonexistent")  # shipped: never computed
        lmk = _landmark_matrix(a) @ corr.vertices - _landmark_matrix(b) @ b.canonical_vertices
        assert np.linalg.norm(lmk, axis=1).mean() * 1000 == pytest.approx(corr.metrics["landmark_mm"]["mean"],
                                                                          abs=0.01)
        assert corr.metrics["landmark_mm"]["mean"] < 1.5


def test_template_without_landmarks_is_one_line(head):
    arrays = {k: v for k, v in head.arrays().items() if not k.startswith("landmark_")}
    with pytest.raises(FacebenchError, match="has no landmark embedding"):
        register(Template("bare", arrays), head)


@pytest.mark.slow
def test_subject_in_both_templates_converts_back_to_the_truth(tmp_path):
    """A synthetic ict-light subject's GT canonical maps, expressed in facebench-head space and
    converted back with `facebench predictions convert`, score close to the truth."""
    from click.testing import CliRunner

    from facebench.cli import cli
    from facebench.evaluate import evaluate
    from facebench.io.prediction_writer import write_clip, write_meta
    from facebench.io.shards import GTReader
    from facebench.synth.api import synthesize

    synthesize(tmp_path / "cap", preset="tiny", template="ict-light", truth_gt=tmp_path / "gt", frames=2,
               sequences=1, progress=False, n_tracks=16)
    to_head = get_correspondence("ict-light", "facebench-head")
    head = load("facebench-head")
    with GTReader(tmp_path / "gt") as reader:
        for cid in reader.clip_ids:
            clip = reader.clip(cid)
            metres = head.denormalize(to_head.convert(clip.canonical))
            write_clip(tmp_path / "preds", cid, {"canonical": head.normalize(metres), "depth": clip.depth})
    write_meta(tmp_path / "preds", {"method": "in-head-space", "benchmark": "synth-v1",
                                    "canonical_space": "facebench-head"})
    unconverted = evaluate(tmp_path / "preds", gt=tmp_path / "gt", progress=False)["metrics"]["canonical"]
    result = CliRunner().invoke(cli, ["predictions", "convert", str(tmp_path / "preds"), "--canonical-from",
                                      "facebench-head", "--gt", str(tmp_path / "gt"), "--out",
                                      str(tmp_path / "conv")])
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "conv" / "meta.json").read_text())
    assert meta["canonical_space"] == "ict-light"
    assert meta["params"]["canonical_converted_from"]["template"] == "facebench-head"
    converted = evaluate(tmp_path / "conv", gt=tmp_path / "gt", progress=False)["metrics"]["canonical"]
    # measured: median 0.09 mm, mean 2.3 mm (face pixels 0.04 / 0.15 mm; the tail is ict-light's neck)
    assert converted["median_mm"] < 0.5 and converted["mean_mm"] < 4.0
    assert unconverted["mean_mm"] > 5 * converted["mean_mm"]


def test_flame_from_a_user_pickle_is_computed_and_cached(head, tmp_path):
    """A FLAME pickle (chumpy-style) whose mesh is facebench-head with another identity and a 51-point
    static landmark embedding: computed on first use, cached in FACEBENCH_HOME, close to the truth."""
    import os

    from tests.test_templates_flame import _flame_dict, _write_chumpy_pickle

    data = _flame_dict(n_v=head.n_vertices, n_f=len(head.faces))
    data["v_template"] = head.deform(identity=np.random.default_rng(2).normal(size=head.n_identity))
    data["f"] = head.faces.astype(np.uint32)
    _write_chumpy_pickle(tmp_path / "flame.pkl", data, tmp_path)
    face_id, bary = head.landmarks
    np.savez(tmp_path / "lmk.npz", static_lmk_faces_idx=face_id[17:], static_lmk_bary_coords=bary[17:])
    flame = load(f"flame:{tmp_path / 'flame.pkl'}?landmarks={tmp_path / 'lmk.npz'}")
    corr = get_correspondence(flame, head)
    cached = list((Path(os.environ["FACEBENCH_HOME"]) / "cache" / "correspondences").glob("*flame-*.npz"))
    assert len(cached) == 2
    err = np.linalg.norm(corr.vertices - head.canonical_vertices, axis=1)[head.regions == 1] * 1000
    assert np.median(err) < 2.5  # measured 1.63 mm (51 landmarks, FLAME's region rule on a foreign mesh)
