"""FLAME without chumpy: a synthetic pickle with the official keys, shapes and chumpy objects."""

import pickle
import sys
import textwrap

import numpy as np
import pytest

from facebench.errors import FacebenchError

N_V, N_F = 5023, 9976

STUB = textwrap.dedent('''
    class add(object):
        """Stands for a chumpy expression node, which facebench cannot and need not evaluate."""
        def __init__(self, a, b):
            self.a, self.b = a, b

    class Ch(object):
        """Mimics chumpy.ch.Ch pickling: __getstate__ drops the unpicklable caches."""
        dterms = ['x']
        def __init__(self, x):
            self.x = x
            self._parents = {}
            self._cache = {}
        def __getstate__(self):
            state = dict(self.__dict__)
            del state['_parents'], state['_cache']
            return state
''')


def _flame_dict(seed=0, n_v=N_V, n_f=N_F):
    import scipy.sparse

    rng = np.random.default_rng(seed)
    v = rng.normal(size=(n_v, 3)) * 0.05
    regressor = np.zeros((5, n_v))
    for j in range(5):
        idx = rng.choice(n_v, 10, replace=False)
        regressor[j, idx] = 0.1
    weights = rng.dirichlet(np.ones(5), n_v)
    return {
        "v_template": v,
        "f": rng.integers(0, n_v, size=(n_f, 3)).astype(np.uint32),
        "shapedirs": rng.normal(size=(n_v, 3, 400)) * 1e-3,
        "posedirs": rng.normal(size=(n_v, 3, 36)) * 1e-3,
        "J_regressor": scipy.sparse.csc_matrix(regressor),
        "weights": weights,
        "kintree_table": np.array([[4294967295, 0, 1, 1, 1], [0, 1, 2, 3, 4]], dtype=np.int64),
        "bs_style": "lbs",
        "bs_type": "lrotmin",
        "weights_prior": np.ones((n_v, 5)),
    }


def _write_chumpy_pickle(path, data, tmp_path, protocol=2):
    """Pickle ``data`` with its float arrays wrapped in chumpy.ch.Ch from a stub module."""
    stub_root = tmp_path / "stub"
    (stub_root / "chumpy").mkdir(parents=True)
    (stub_root / "chumpy" / "__init__.py").write_text("")
    (stub_root / "chumpy" / "ch.py").write_text(STUB)
    sys.path.insert(0, str(stub_root))
    try:
        import chumpy.ch

        wrapped = {k: chumpy.ch.Ch(v) if k in ("v_template", "shapedirs", "posedirs", "weights") else v
                   for k, v in data.items()}
        wrapped["J"] = chumpy.ch.add(chumpy.ch.Ch(np.zeros((5, 3))), chumpy.ch.Ch(np.ones((5, 3))))
        with open(path, "wb") as fh:
            pickle.dump(wrapped, fh, protocol=protocol)
    finally:
        sys.path.remove(str(stub_root))
        for name in [m for m in sys.modules if m == "chumpy" or m.startswith("chumpy.")]:
            del sys.modules[name]


@pytest.fixture(scope="module")
def flame_pkl(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("flame")
    path = tmp / "generic_model.pkl"
    data = _flame_dict()
    _write_chumpy_pickle(path, data, tmp)
    return path, data


def test_flame_loads_without_chumpy(flame_pkl):
    from facebench.templates import load

    path, data = flame_pkl
    assert "chumpy" not in sys.modules
    with pytest.raises(ImportError):
        import chumpy  # noqa: F401
    flame = load(f"flame:{path}")
    assert "chumpy" not in sys.modules
    assert flame.name == "flame" and flame.n_vertices == N_V and len(flame.faces) == N_F
    assert flame.n_identity == 300 and flame.n_expression == 100
    assert np.array_equal(flame.canonical_vertices, data["v_template"])
    assert np.array_equal(flame.expression_basis, data["shapedirs"][:, :, 300:])
    assert np.allclose(flame.joint_regressor, data["J_regressor"].toarray())
    assert flame.parents.tolist() == [-1, 0, 1, 1, 1]
    assert flame.posedirs.shape == (N_V, 3, 36)
    assert flame.regions.shape == (N_V,) and set(np.unique(flame.regions)) <= {1, 2, 3, 4, 5, 6}
    assert np.array_equal(flame.regions == 5, np.argmax(data["weights"], 1) >= 3)
    assert flame.albedo is None and flame.landmarks is None


def test_flame_old_protocol_and_landmarks(tmp_path):
    from facebench.templates import load

    data = _flame_dict(seed=1, n_v=300, n_f=500)  # small: the full shapes are tested above
    path = tmp_path / "flame2023.pkl"
    _write_chumpy_pickle(path, data, tmp_path, protocol=1)  # copy_reg._reconstructor path
    lmk = tmp_path / "landmark_embedding.npz"
    np.savez(lmk, lmk_face_idx=np.arange(51), lmk_b_coords=np.full((51, 3), 1 / 3))
    flame = load(f"flame:{path}?landmarks={lmk}")
    face_id, bary = flame.landmarks
    assert face_id.tolist() == list(range(51)) and bary.shape == (51, 3)
    assert np.array_equal(flame.canonical_vertices, data["v_template"])


def test_flame_deform_numpy_matches_torch_with_pose_correctives(flame_pkl):
    import torch

    from facebench.templates import load

    flame = load(f"flame:{flame_pkl[0]}")
    rng = np.random.default_rng(2)
    params = dict(identity=rng.normal(size=(2, 300)), expression=rng.normal(size=(2, 100)),
                  neck=rng.normal(size=(2, 3)) * 0.3, jaw=rng.normal(size=(2, 3)) * 0.3,
                  eyes=rng.normal(size=(2, 6)) * 0.3, rotation=rng.normal(size=(2, 3)),
                  translation=rng.normal(size=(2, 3)), scale=0.9)
    expected = flame.deform(**params)
    got = flame.deform_torch(**{k: torch.tensor(v) if isinstance(v, np.ndarray) else v
                                for k, v in params.items()})
    assert np.abs(got.numpy() - expected).max() < 1e-6
    # the pose correctives are in use: removing them changes the result
    posedirs, flame.posedirs = flame.posedirs, None
    try:
        assert np.abs(flame.deform(**params) - expected).max() > 1e-4
    finally:
        flame.posedirs = posedirs


def test_lbs_rotates_a_joint_child_rigidly():
    from facebench.templates.lbs import rodrigues, skin

    # two joints: root at the origin, child at (0, 1, 0); vertex fully on the child
    v = np.array([[[0.0, 2.0, 0.0], [1.0, 0.0, 0.0]]])
    regressor = np.array([[0.0, 0.0], [0.5, 0.0]])  # child joint = 0.5 * vertex 0 = (0, 1, 0)
    weights = np.array([[0.0, 1.0], [1.0, 0.0]])
    pose = np.array([[[0.0, 0.0, 0.0], [0.0, 0.0, np.pi / 2]]])  # child: 90 deg about z
    out = skin(v, pose, regressor, np.array([-1, 0]), weights)
    assert np.allclose(out[0, 0], [-1.0, 1.0, 0.0]) and np.allclose(out[0, 1], [1.0, 0.0, 0.0])
    assert np.allclose(rodrigues(np.zeros(3)), np.eye(3))


def test_malicious_pickle_is_refused(tmp_path):
    from facebench.templates.flame import read_flame_pickle

    class Evil:
        def __reduce__(self):
            import os

            return (os.system, ("echo pwned",))

    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"v_template": Evil()}, protocol=2))
    with pytest.raises(FacebenchError, match="refusing"):
        read_flame_pickle(path)


def test_missing_flame_file_is_a_user_error(tmp_path):
    from facebench.templates import load

    with pytest.raises(FacebenchError, match="not found"):
        load(f"flame:{tmp_path / 'nope.pkl'}")


def test_tracking_to_vertices_for_the_head():
    from scipy.spatial.transform import Rotation

    from facebench.templates import load
    from facebench.templates.flame import tracking_to_vertices

    head = load("facebench-head")
    rng = np.random.default_rng(4)
    n = 3
    euler = rng.normal(size=(n, 3)) * 0.3
    tracking = {
        "shape": rng.normal(size=(1, 300)), "expression": rng.normal(size=(n, 100)),
        "rotation": euler, "rotation_matrices": Rotation.from_euler("xyz", euler).as_matrix(),
        "translation": rng.normal(size=(n, 3)), "jaw": np.abs(rng.normal(size=(n, 3))) * 0.1,
        "neck": rng.normal(size=(n, 3)) * 0.1, "eyes": rng.normal(size=(n, 6)) * 0.1,
        "scale": np.array([[1.2]]), "frames": np.arange(n),
    }
    verts = tracking_to_vertices(head, tracking)
    assert verts.shape == (n, head.n_vertices, 3)
    expected = head.deform(
        identity=tracking["shape"][0, : head.n_identity],
        expression=tracking["expression"][:, : head.n_expression],
        neck=tracking["neck"], jaw=tracking["jaw"], eyes=tracking["eyes"],
        rotation=Rotation.from_euler("xyz", euler).as_rotvec(), translation=tracking["translation"],
        scale=1.2)
    assert np.allclose(verts, expected, atol=1e-10)
    no_matrices = {k: v for k, v in tracking.items() if k != "rotation_matrices"}
    assert np.allclose(tracking_to_vertices(head, no_matrices), verts, atol=1e-10)
    assert np.allclose(tracking_to_vertices(head, tracking, frames=[2]), verts[2:], atol=1e-10)


def test_flame_region_rule_agrees_with_the_head_labels():
    """The FLAME rule, applied to facebench-head (adult proportions), finds its regions."""
    from facebench.templates import load
    from facebench.templates.flame import flame_regions

    head = load("facebench-head")
    joints = head.joint_regressor @ head.canonical_vertices
    regions = flame_regions(head.canonical_vertices, head.faces, head.lbs_weights, joints)
    assert np.mean(regions == head.regions) > 0.8
    assert np.array_equal(regions == 5, head.regions == 5)
    for label in (1, 2, 3, 4):
        assert np.mean(regions[head.regions == label] == label) > 0.5, label
