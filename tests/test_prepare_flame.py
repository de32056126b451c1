"""prepare with a FLAME template (a synthetic FLAME-format pickle) and the benchmark tracking file."""

import json
import pickle

import numpy as np
import pytest


def _flame_pickle_from_head(path):
    """A FLAME-format pickle (official keys and sizes: 300 shape + 100 expression directions,
    5 joints, 36 pose correctives) whose mesh and bases are the built-in head's, so the
    synthetic renderer and the fit see a real surface."""
    from facebench.templates import load

    head = load("facebench-head")
    V = head.n_vertices
    shapedirs = np.zeros((V, 3, 400))
    shapedirs[:, :, : head.n_identity] = head.identity_basis
    shapedirs[:, :, 300:300 + head.n_expression] = head.expression_basis
    data = {"v_template": head.canonical_vertices, "f": head.faces.astype(np.uint32),
            "shapedirs": shapedirs, "posedirs": np.zeros((V, 3, 36)), "J_regressor": head.joint_regressor,
            "weights": head.lbs_weights,
            "kintree_table": np.array([[4294967295, 0, 1, 1, 1], [0, 1, 2, 3, 4]]),
            "bs_style": "lbs", "bs_type": "lrotmin"}
    with open(path, "wb") as fh:
        pickle.dump(data, fh, protocol=2)
    return path


@pytest.mark.slow
def test_flame_template_with_benchmark_tracking(tmp_path):
    from facebench.io.shards import GTReader, validate_gt
    from facebench.prepare import prepare_nersemble
    from facebench.synth import synthesize

    pkl = _flame_pickle_from_head(tmp_path / "generic_model.pkl")
    spec = f"flame:{pkl}"
    try:
        synthesize(tmp_path / "cap", preset="tiny", layout="benchmark", seed=3, template=spec,
                   truth_dir=tmp_path / "truth", progress=False)
    except Exception as exc:  # the generator may not support every template
        pytest.skip(f"synth cannot render this FLAME template: {exc}")
    config = {"fit": {"iterations": 40, "offset_iterations": 5}, "maps": {"n_tracks": 8}}
    summary = prepare_nersemble(tmp_path / "cap", tmp_path / "gt", template=spec, config=config,
                                progress=False)
    assert summary.clips == 3
    assert validate_gt(tmp_path / "gt") == []
    manifest = json.loads((tmp_path / "gt" / "manifest.json").read_text())
    assert manifest["template"]["name"] == "flame"
    reader = GTReader(tmp_path / "gt")
    pid, seq, _ = reader.clip_ids[0].split("/")
    _, verts = reader.sequence_vertices(pid, seq)
    assert verts.shape[1] == 6062
    truth = np.load(tmp_path / "truth" / pid / seq / "truth.npz")["vertices"]
    from facebench.templates import load

    face = load(spec).regions == 1
    err_mm = np.linalg.norm(verts[:, face] - truth[:, face], axis=-1) * 1000
    assert np.median(err_mm) < 2.0  # initialised from the tracking file, refined on the point clouds
