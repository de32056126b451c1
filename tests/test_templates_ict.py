"""ict-light: the shipped ICT-FaceKit asset against vertices read from the upstream OBJs."""

from pathlib import Path

import numpy as np
import pytest

from facebench.templates import load
from facebench.templates.ict_build import ASSET_PATH, ASSET_SHA256, asset_sha256, load_asset, triangulate

REFERENCE = Path(__file__).parent / "data" / "ict_reference.npz"  # 406 vertices of 6 upstream OBJs (cm)
TOL_M = 0.02e-3
# the Multi-PIE 68 vertex indices as listed in the upstream README
MULTI_PIE_68 = [1225, 1888, 1052, 367, 1719, 1722, 2199, 1447, 966, 3661, 4390, 3927, 3924, 2608, 3272, 4088,
                3443, 268, 493, 1914, 2044, 1401, 3615, 4240, 4114, 2734, 2509, 978, 4527, 4942, 4857, 1140,
                2075, 1147, 4269, 3360, 1507, 1542, 1537, 1528, 1518, 1511, 3742, 3751, 3756, 3721, 3725,
                3732, 5708, 5695, 2081, 0, 4275, 6200, 6213, 6346, 6461, 5518, 5957, 5841, 5702, 5711, 5533,
                6216, 6207, 6470, 5517, 5966]  # the bound: 0.02 mm


@pytest.fixture(scope="module")
def ict():
    return load("ict-light")


@pytest.fixture(scope="module")
def reference():
    with np.load(REFERENCE) as z:
        return {k: z[k] for k in z.files}


def test_shape_and_names(ict):
    assert ict.n_vertices == 24591 and ict.n_identity == 100 and ict.n_expression == 53
    assert ict.expression_names[:2] == ["browDown_L", "browDown_R"] and "jawOpen" in ict.expression_names
    assert ict.landmarks[0].shape == (68,)
    # skin is upstream 0..11,247: face, scalp, ears, neck only; eyes and mouth interior after it
    assert set(np.unique(ict.regions[:11248])) == {1, 2, 3, 4}
    assert set(np.unique(ict.regions[11248:])) == {5, 6}
    face = ict.normalize(ict.canonical_vertices[ict.regions == 1])
    assert face.min() >= -1.0 and face.max() <= 1.0


def test_deform_reproduces_upstream_objs(ict, reference):
    ids = reference["vertex_ids"]
    neutral = reference["generic_neutral_mesh"] / 100.0
    assert np.abs(ict.canonical_vertices[ids] - neutral).max() < TOL_M
    for k in (42, 99):
        v = ict.deform(identity=np.eye(100)[k])
        assert np.abs(v[ids] - reference[f"identity{k:03d}"] / 100.0).max() < TOL_M
    for name in ("jawOpen", "mouthSmile_L", "eyeBlink_R"):
        w = np.zeros(53)
        w[ict.expression_names.index(name)] = 1.0
        assert np.abs(ict.deform(expression=w)[ids] - reference[name] / 100.0).max() < TOL_M


def test_landmarks_are_the_upstream_vertices(ict, reference):
    lm = ict.landmarks_world(ict.canonical_vertices)
    asset = load_asset()
    assert np.allclose(lm, ict.canonical_vertices[asset["landmark_vertex"]])
    assert asset["landmark_vertex"].tolist() == MULTI_PIE_68
    assert np.argmax(lm[27:31, 2]) == 3  # iBUG 30 is the nose tip: the most forward nose landmark


def test_rig_eyes_rotate_rigidly_and_torch_matches_numpy(ict):
    import torch

    rng = np.random.default_rng(3)
    kw = dict(identity=rng.normal(size=100), expression=rng.uniform(0, 0.4, 53), neck=[0.1, 0.3, 0.0],
              eyes=[0.1, 0.2, 0.0, 0.1, 0.2, 0.0], rotation=[0.05, -0.2, 0.1], translation=[0.01, 0.0, 0.3])
    v = ict.deform(**kw)
    vt = ict.deform_torch(**{k: torch.tensor(np.asarray(a), dtype=torch.float64) for k, a in kw.items()})[0]
    assert np.abs(vt.numpy() - v).max() < 1e-9
    eye = v[21451:23021]
    ref = ict.deform(**{**kw, "eyes": np.zeros(6)})[21451:23021]
    d_eye = np.linalg.norm(eye[:, None] - eye[None, ::50], axis=-1)
    d_ref = np.linalg.norm(ref[:, None] - ref[None, ::50], axis=-1)
    assert np.abs(d_eye - d_ref).max() < 1e-9 and np.abs(eye - ref).max() > 1e-3  # rigid, but it moved
    assert np.allclose(ict.deform(jaw=[0.4, 0, 0]), ict.canonical_vertices)  # ICT's jaw is a blendshape


def test_canonical_round_trip(ict):
    rng = np.random.default_rng(5)
    v = ict.deform(identity=rng.normal(size=100), expression=rng.uniform(0, 0.5, 53), rotation=[0, 0.3, 0])
    face = np.flatnonzero(ict.face_regions == 1)[::97]
    bary = rng.dirichlet(np.ones(3), len(face))
    p = np.einsum("nk,nkc->nc", bary, v[ict.faces[face]])
    c = ict.to_canonical(p, v)
    assert np.abs(c - ict.canonical_at(face, bary)).max() < 1e-6
    assert np.abs(ict.from_canonical(c, v) - p).max() < 1e-6


def test_asset_is_compact_and_hash_is_recorded():
    assert ASSET_PATH.stat().st_size <= 10e6
    assert (ASSET_PATH.parent / "ICT-FaceKit-LICENSE.txt").read_text().startswith("MIT License")
    assert asset_sha256(load_asset()) == ASSET_SHA256
    docs = (Path(__file__).parents[1] / "docs" / "TEMPLATES.md").read_text()
    assert ASSET_SHA256 in docs


def test_triangulate_keeps_order_and_drops_excluded_parts():
    tris = triangulate([[0, 1, 2, 3], [1, 2, 4], [2, 3, 9]], n_kept=5)
    assert tris.tolist() == [[0, 1, 2], [0, 2, 3], [1, 2, 4]]


def test_template_show_draws_ict_light_by_default_and_credits_it(tmp_path):
    from click.testing import CliRunner
    from PIL import Image

    from facebench.cli.template import template

    out = tmp_path / "ict.png"
    result = CliRunner().invoke(template, ["show", "--out", str(out), "--size", "48"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ict-light: V=24591")
    assert "USC Institute for Creative Technologies" in result.output and "LICENSE" in result.output
    img = np.asarray(Image.open(out).convert("RGB"))
    assert img.shape[0] > 100 and img.std() > 10


def test_subset_deforms_exactly_like_the_full_template(ict):
    face = np.flatnonzero(ict.regions == 1)
    sub = ict.subset(face)
    assert set(face) <= set(sub.vertex_ids) and sub.n_vertices < ict.n_vertices / 2
    rng = np.random.default_rng(2)
    kw = dict(identity=rng.normal(size=100), expression=rng.uniform(0, 0.5, 53), neck=[0.2, 0.1, 0.0],
              rotation=[0.1, 0.4, 0.0], translation=[0.0, 0.01, 1.0])
    np.testing.assert_allclose(sub.deform(**kw), ict.deform(**kw)[sub.vertex_ids], atol=1e-12)
    assert sub.faces.max() < sub.n_vertices
