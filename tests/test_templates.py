"""facebench-head and the Template interface: deformation, canonical maps, determinism."""

import numpy as np
import pytest

from facebench.errors import FacebenchError
from facebench.templates import load
from facebench.templates.template import face_regions

# sha256 of the built-in head, computed once; a change means the template changed:
# bump head.BUILDER_VERSION and update this value on purpose.
EXPECTED_HEAD_SHA256 = "6a58b69df8d5f9816f97742065eda39ab9c6c22d432c03b41fdb7146b90c4eaf"


@pytest.fixture(scope="module")
def head():
    return load("facebench-head")


def _params(template, n_frames, seed=0, amount=1.0):
    rng = np.random.default_rng(seed)
    return dict(
        identity=rng.normal(size=(n_frames, template.n_identity)) * amount,
        expression=rng.normal(size=(n_frames, template.n_expression)) * amount,
        neck=rng.normal(size=(n_frames, 3)) * 0.2, jaw=np.abs(rng.normal(size=(n_frames, 3))) * 0.1,
        eyes=rng.normal(size=(n_frames, 6)) * 0.2, rotation=rng.normal(size=(n_frames, 3)),
        translation=rng.normal(size=(n_frames, 3)), scale=1.3,
    )


def test_head_is_a_closed_head_sized_mesh(head):
    import trimesh

    assert 4500 <= head.n_vertices <= 6500
    assert head.n_identity >= 20 and head.n_expression >= 12
    skin = head.regions != 5  # the skin without the two eyeball meshes
    faces = head.faces[np.all(skin[head.faces], axis=1)]
    mesh = trimesh.Trimesh(head.canonical_vertices, faces, process=False)
    assert mesh.is_watertight and mesh.is_winding_consistent and mesh.volume > 0
    v = head.canonical_vertices[head.regions == 1]
    width, height = np.ptp(v[:, 0]), np.ptp(head.canonical_vertices[head.regions != 4][:, 1])
    assert 0.13 < width < 0.18 and 0.2 < height < 0.26
    nose_tip = head.canonical_vertices[np.argmax(head.canonical_vertices[:, 2])]
    assert abs(nose_tip[0]) < 1e-3 and nose_tip[2] > 0.09  # +z is forward out of the face


def test_face_region_is_inside_the_unit_cube(head):
    c = head.normalize(head.canonical_vertices[head.regions == 1])
    assert np.all(np.abs(c) <= 1.0) and np.abs(c).max() > 0.9


def test_regions_and_face_regions(head):
    assert set(np.unique(head.regions)) == {1, 2, 3, 4, 5, 6}
    assert head.face_regions.shape == (len(head.faces),)
    # majority vote, ties to the smallest label
    regions = np.array([1, 1, 2, 4, 3], np.uint8)
    faces = np.array([[0, 1, 2], [2, 3, 4], [2, 2, 3], [4, 3, 3], [3, 4, 2]])
    assert face_regions(regions, faces).tolist() == [1, 2, 2, 4, 2]


def test_landmarks_sit_on_their_features(head):
    face_id, bary = head.landmarks
    assert face_id.shape == (68,) and bary.shape == (68, 3)
    assert np.allclose(bary.sum(1), 1.0) and np.all(bary >= -1e-9)
    lmk = head.landmarks_world(head.canonical_vertices)
    assert lmk[30, 2] == lmk[:, 2].max()  # nose tip is the most forward landmark
    assert np.all(lmk[36:42, 0] < 0) and np.all(lmk[42:48, 0] > 0)  # right eye at -x, left at +x
    assert lmk[8, 1] == lmk[:, 1].min()  # chin is the lowest
    assert lmk[19, 1] > lmk[37, 1] > lmk[33, 1] > lmk[51, 1] > lmk[57, 1]
    assert np.allclose(lmk[:17], lmk[16::-1] * [-1, 1, 1], atol=5e-4)  # jaw line symmetric
    assert np.all(head.regions[head.faces[face_id]] <= 3)


def test_albedo(head):
    assert head.albedo.dtype == np.float32 and head.albedo.shape == (head.n_vertices, 3)
    assert head.albedo.min() >= 0 and head.albedo.max() <= 1
    lmk_lip = head.faces[head.landmarks[0][51]]
    assert head.albedo[lmk_lip, 0].mean() > head.albedo[lmk_lip, 1].mean() + 0.2  # red lips


def test_deform_numpy_matches_torch(head):
    import torch

    params = _params(head, 3)
    expected = head.deform(**params)
    assert expected.shape == (3, head.n_vertices, 3)
    tensors = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in params.items()}
    got = head.deform_torch(**tensors)
    assert got.dtype == torch.float64
    assert np.abs(got.numpy() - expected).max() < 1e-6
    got32 = head.deform_torch(**{k: v.float() if isinstance(v, torch.Tensor) else v
                                 for k, v in tensors.items()})
    assert got32.dtype == torch.float32 and np.abs(got32.double().numpy() - expected).max() < 1e-5
    single = head.deform(**{k: v[1] if isinstance(v, np.ndarray) else v for k, v in params.items()})
    assert single.shape == (head.n_vertices, 3) and np.allclose(single, expected[1])


def test_deform_torch_is_differentiable(head):
    import torch

    expression = torch.zeros(2, head.n_expression, dtype=torch.float64, requires_grad=True)
    jaw = torch.zeros(2, 3, dtype=torch.float64, requires_grad=True)
    head.deform_torch(expression=expression, jaw=jaw).sum().backward()
    assert torch.isfinite(expression.grad).all() and torch.isfinite(jaw.grad).all()
    assert jaw.grad.abs().sum() > 0


def test_rigid_part_of_deform(head):
    assert np.allclose(head.deform(), head.canonical_vertices, atol=1e-12)
    rot = np.array([0.0, np.pi / 2, 0.0])  # 90 degrees about +y: +z goes to +x
    v = head.deform(rotation=rot, translation=[0.0, 0.0, 1.0], scale=2.0)
    x = head.canonical_vertices
    assert np.allclose(v, np.stack([2 * x[:, 2], 2 * x[:, 1], -2 * x[:, 0] + 1.0], 1), atol=1e-12)


def test_jaw_opens_the_mouth(head):
    lmk_open = head.landmarks_world(head.deform(jaw=[0.25, 0.0, 0.0]))
    lmk = head.landmarks_world(head.canonical_vertices)
    assert lmk[66, 1] - lmk[62, 1] < 1e-4
    assert lmk_open[62, 1] - lmk_open[66, 1] > 0.008  # lips more than 8 mm apart
    assert np.allclose(lmk_open[17:27], lmk[17:27])  # brows do not move


def _edge_ratio(template, v):
    f = template.faces
    edges = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    rest = np.linalg.norm(np.diff(template.canonical_vertices[edges], axis=1), axis=-1)[:, 0]
    now = np.linalg.norm(np.diff(v[edges], axis=1), axis=-1)[:, 0]
    return now / rest


@pytest.mark.parametrize("basis", ["identity", "expression"])
def test_components_do_not_tear_or_fold(head, basis):
    from facebench.geometry import face_normals

    n = head.n_identity if basis == "identity" else head.n_expression
    n0 = face_normals(head.canonical_vertices, head.faces)
    for k in range(n):
        for amount in (-3.0, 3.0):
            coeffs = np.zeros(n)
            coeffs[k] = amount
            v = head.deform(**{basis: coeffs})
            ratio = _edge_ratio(head, v)
            assert 0.2 < ratio.min() and ratio.max() < 5.0, (basis, k, amount)
            flipped = np.mean(np.sum(face_normals(v, head.faces) * n0, 1) < 0)
            assert flipped < 0.005, (basis, k, amount, flipped)


def test_to_canonical_on_surface_is_exact(head):
    params = _params(head, 1, seed=3)
    v_t = head.deform(**params)[0]
    rng = np.random.default_rng(1)
    face_id = rng.integers(0, len(head.faces), 300)
    bary = rng.dirichlet([2.0, 2.0, 2.0], 300)
    points = np.einsum("nk,nkc->nc", bary, v_t[head.faces[face_id]])
    c = head.to_canonical(points, v_t)
    assert np.abs(c - head.canonical_at(face_id, bary)).max() <= 1e-6
    assert np.abs(head.from_canonical(c, v_t) - points).max() <= 1e-6


def test_to_canonical_keeps_normal_offsets_and_cuts_at_max_offset(head):
    from facebench.geometry import closest_points, face_normals

    v_t = head.deform(**_params(head, 1, seed=5))[0]
    faces_on_face = np.flatnonzero(head.face_regions == 1)[::97][:40]
    bary = np.full((len(faces_on_face), 3), 1.0 / 3.0)
    on = np.einsum("nk,nkc->nc", bary, v_t[head.faces[faces_on_face]])
    n_t = face_normals(v_t, head.faces)[faces_on_face]
    n_c = face_normals(head.canonical_vertices, head.faces)[faces_on_face]
    offset = 0.002  # 2 mm outwards
    points = on + offset * n_t
    c = head.to_canonical(points, v_t)
    delta = (c - head.canonical_at(faces_on_face, bary)) * head.scale  # metres in canonical space
    # where the surface is locally convex the closest point is still the centroid
    same = closest_points(v_t, head.faces, points).face_id == faces_on_face
    assert same.mean() > 0.8
    assert np.allclose(delta[same], offset * n_c[same], atol=1e-6)
    far = head.to_canonical(on + 0.2 * n_t, v_t, max_offset=0.05)
    assert np.isnan(far).all()
    mixed = head.to_canonical(np.array([[np.nan, 0, 0], on[0]]), v_t)
    assert np.isnan(mixed[0]).all() and np.isfinite(mixed[1]).all()


def test_parameter_errors(head):
    with pytest.raises(FacebenchError, match="identity"):
        head.deform(identity=np.zeros(head.n_identity + 1))
    with pytest.raises(FacebenchError, match="frames"):
        head.deform(neck=np.zeros((2, 3)), jaw=np.zeros((3, 3)))
    v = head.deform(identity=np.ones(3))  # shorter coefficient vectors are zero-padded
    assert np.allclose(v, head.deform(identity=np.r_[np.ones(3), np.zeros(head.n_identity - 3)]))


def test_unknown_template_name_hints():
    with pytest.raises(FacebenchError, match="did you mean 'facebench-head'"):
        load("facebench-haed")


def test_head_build_is_deterministic_and_cached(head, tmp_path, monkeypatch):
    from facebench.templates.head import build_head_arrays, load_head
    from facebench.templates.template import array_sha256

    monkeypatch.setenv("FACEBENCH_HOME", str(tmp_path))
    fresh = load_head()
    assert len(list((tmp_path / "cache").glob("facebench-head-v*.npz"))) == 1
    cached = load_head()
    assert fresh.sha256 == cached.sha256 == head.sha256
    arrays = build_head_arrays()
    assert np.array_equal(arrays["canonical_vertices"], head.canonical_vertices)
    assert array_sha256("facebench-head", {k: v for k, v in arrays.items() if not k.endswith("_names")}) \
        == head.sha256


def test_head_sha256_is_stable(head):
    assert head.sha256 == EXPECTED_HEAD_SHA256


def test_template_show_cli_writes_a_png(tmp_path):
    from click.testing import CliRunner
    from PIL import Image

    from facebench.cli.template import template

    out = tmp_path / "head.png"
    result = CliRunner().invoke(template, ["show", "facebench-head", "--out", str(out), "--size", "48"])
    assert result.exit_code == 0, result.output
    assert "facebench-head" in result.output
    img = np.asarray(Image.open(out).convert("RGB"))
    assert img.shape[0] > 100 and img.std() > 10  # something was drawn


def test_template_show_unknown_name_is_one_line_error(capsys):
    from facebench.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["template", "show", "--template", "flme", "--out", "x.png"])
    assert exc.value.code == 2
    assert "did you mean 'flame'" in capsys.readouterr().err


def test_template_pickles_after_using_its_caches():
    import pickle

    import numpy as np

    from facebench.templates import load

    head = load("facebench-head")
    v = head.deform()
    c = head.canonical_at(np.array([0, 1]), np.full((2, 3), 1 / 3))
    back = head.from_canonical(c, v)  # builds the proximity cache
    clone = pickle.loads(pickle.dumps(head))
    assert clone.sha256 == head.sha256
    np.testing.assert_allclose(clone.from_canonical(c, v), back, atol=1e-9)
