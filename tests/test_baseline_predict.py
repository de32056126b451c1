import json
from pathlib import Path

import numpy as np
import pytest

from facebench.baseline.predict import predict
from facebench.baseline.tracks import sample_canonical
from facebench.baseline.train import train
from facebench.baseline.trivial import mean_depth_plane, origin_depth, static_tracks
from facebench.errors import FacebenchError
from facebench.evaluate.validate import validate_predictions
from facebench.io.shards import GTReader
from tests.baseline_helpers import SMALL, make_gt


@pytest.fixture(scope="module")
def gt(tmp_path_factory):
    return make_gt(tmp_path_factory.mktemp("gt"), T=5, H=24, W=32)


@pytest.fixture(scope="module")
def checkpoint(gt, tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    train(gt, run, config="tiny", steps=2, batch_size=1, window=2, model_overrides=SMALL, progress=False)
    return run / "checkpoint.safetensors"


def test_transformer_predictions_follow_spec(gt, checkpoint, tmp_path):
    meta = predict(gt, tmp_path, checkpoint=checkpoint, frames_per_window=2, benchmark="synth-v1",
                   progress=False)
    assert meta["clips"] == 2 and meta["frames"] == 10
    on_disk = json.loads((tmp_path / "meta.json").read_text())
    assert on_disk["method"] == "facebench-transformer-tiny" and on_disk["benchmark"] == "synth-v1"
    assert on_disk["runtime_s_per_frame"] > 0 and on_disk["device"].startswith("cpu")
    assert on_disk["params"]["frames_per_window"] == 2
    reader = GTReader(gt)
    cid = reader.clip_ids[0]
    with np.load(tmp_path / f"{cid}.npz", allow_pickle=False) as z:
        assert z["depth"].shape == (5, 24, 32) and z["canonical"].shape == (5, 24, 32, 3)
        assert z["confidence"].shape == (5, 24, 32)
        assert z["tracks_xy"].shape == (5, 5, 2) and z["tracks_visible"].dtype == bool
        assert z["tracks_xyz"].shape == (5, 5, 3)
        assert all(np.isfinite(z[k]).all() for k in ("depth", "canonical", "confidence", "tracks_xy"))
    assert validate_predictions(tmp_path, gt=gt) == []


def test_mean_depth_plane_uses_only_the_rig(gt, tmp_path):
    predict(gt, tmp_path, method="mean-depth-plane", benchmark="synth-v1", progress=False)
    assert validate_predictions(tmp_path, gt=gt) == []
    reader = GTReader(gt)
    cid = reader.clip_ids[1]
    tracks = reader.clip(cid, fields=("tracks",)).tracks
    with np.load(tmp_path / f"{cid}.npz") as z:
        # the test rig (identity extrinsics) puts the world origin at z = 0: clamped to 0.1 m
        assert np.unique(z["depth"]).tolist() == [np.float32(0.1)]
        # static tracks: every frame repeats the query pixel
        q = tracks.xy[np.arange(5), tracks.query_frame]
        np.testing.assert_allclose(z["tracks_xy"], np.repeat(q[:, None], 5, axis=1))


def test_trivial_pieces_by_hand():
    T_cw = np.eye(4)
    T_cw[2, 3] = 1.2
    assert origin_depth(T_cw) == 1.2
    maps = mean_depth_plane((2, 3, 4), T_cw)
    assert maps["depth"].shape == (2, 3, 4) and (maps["depth"] == np.float32(1.2)).all()
    assert (maps["canonical"] == 0).all()
    K = np.array([[100.0, 0, 10], [0, 100.0, 20], [0, 0, 1]])
    xy, vis, xyz = static_tracks(np.array([0]), np.array([[110.0, 20.0]]), 2.0, K, n_frames=3)
    assert vis.all() and xy.shape == (1, 3, 2)
    np.testing.assert_allclose(xyz[0, 0], [2.0, 0.0, 2.0])  # (110-10)/100 * 2


def test_sample_canonical_bilinear():
    canonical = np.zeros((1, 2, 2, 3), np.float32)
    canonical[0, :, 1, 0] = 1.0  # x coordinate is 1 in the right column
    canonical[0, 1, :, 1] = 2.0  # y coordinate is 2 in the bottom row
    out = sample_canonical(canonical, np.array([0, 0]), np.array([[0.25, 0.5], [1.0, 1.0]]))
    np.testing.assert_allclose(out, [[0.25, 1.0, 0.0], [1.0, 2.0, 0.0]])


def test_unknown_method_and_missing_benchmark(gt, tmp_path):
    with pytest.raises(FacebenchError, match="did you mean 'template-frontal'"):
        predict(gt, tmp_path, method="template-frontl", progress=False)
    with pytest.raises(FacebenchError, match="pass --benchmark"):
        predict(gt, tmp_path, method="mean-depth-plane", progress=False)


def test_shipped_checkpoint_loads_offline():
    from facebench.baseline.checkpoint import SHIPPED, load_model

    assert SHIPPED.is_file() and SHIPPED.stat().st_size < 20 * 2**20
    model, meta = load_model()  # no path: the shipped tiny model
    assert meta["model"]["name"] == "tiny" and meta["step"] > 0 and model.config.prior


def test_shipped_checkpoints_by_name_and_their_canonical_spaces():
    """tiny (landmark-fit prior, domain-randomised ICT renders) is the default; tiny-ict (the previous
    tiny) and tiny-head (procedural heads, synth-v1's row) stay loadable by name and as their own
    methods; each method's canonical space is its prior's template."""
    from facebench.baseline.checkpoint import SHIPPED_DIR, resolve_checkpoint, shipped_checkpoints
    from facebench.methods import make_method

    assert {"tiny", "tiny-ict", "tiny-head"} <= set(shipped_checkpoints())
    assert resolve_checkpoint("tiny-head") == SHIPPED_DIR / "tiny-head.safetensors"
    assert resolve_checkpoint(None) == SHIPPED_DIR / "tiny.safetensors"
    assert resolve_checkpoint("runs/x/tiny-head") == Path("runs/x/tiny-head.safetensors")  # a path stays one
    new, old = make_method("transformer", device="cpu"), make_method("transformer-head", device="cpu")
    assert (new.name, new.canonical_template) == ("facebench-transformer-tiny", "ict-light")
    assert (old.name, old.canonical_template) == ("facebench-transformer-tiny-head", "facebench-head")
    assert old.params["checkpoint"] == "shipped:tiny-head.safetensors"
    ict = make_method("transformer-ict", device="cpu")
    assert (ict.name, ict.canonical_template, ict.params["prior"]) == ("facebench-transformer-tiny-ict",
                                                                      "ict-light", "rig")
    assert new.params["prior"] == "fit" and new.fitter is not None  # the landmark fit is its prior
    total = sum(p.stat().st_size for p in SHIPPED_DIR.glob("*.safetensors"))
    assert total < 52 * 2**20  # three tiny checkpoints, 16 MB each


def test_renormalize_between_template_versions():
    from facebench.baseline.prior import renormalize

    # a point at x_c = (0, 0.1, 0) m: (0, 1, 0) under center 0 / scale 0.1; (0, 0.4, 0) under center
    # (0, 0.06, 0) / scale 0.1; (0, 0.5, 0) under center 0 / scale 0.2
    c = np.array([[0.0, 1.0, 0.0]], np.float32)
    np.testing.assert_allclose(renormalize(c, [0, 0, 0], 0.1, [0, 0.06, 0], 0.1), [[0, 0.4, 0]], atol=1e-6)
    np.testing.assert_allclose(renormalize(c, [0, 0, 0], 0.1, [0, 0, 0], 0.2), [[0, 0.5, 0]], atol=1e-6)
    assert renormalize(c, [0, 0, 0], 0.1, [0, 0, 0], 0.1) is c


def test_batched_windows_and_precision(gt, checkpoint, tmp_path):
    """Windows batched together give the maps of windows run one by one; bf16 autocast runs on CPU."""
    from facebench.errors import InputError

    one = predict(gt, tmp_path / "one", checkpoint=checkpoint, frames_per_window=2, batch_windows=1,
                  benchmark="synth-v1", device="cpu", progress=False)
    many = predict(gt, tmp_path / "many", checkpoint=checkpoint, frames_per_window=2, batch_windows=4,
                   benchmark="synth-v1", device="auto", progress=False)  # T=5: 2 windows + a 1-frame tail
    bf16 = predict(gt, tmp_path / "bf16", checkpoint=checkpoint, frames_per_window=2, precision="bf16",
                   benchmark="synth-v1", device="cpu", progress=False)
    assert one["params"]["precision"] == "fp32" and bf16["params"]["precision"] == "bf16"
    assert many["params"]["batch_windows"] == 4 and many["device"].startswith("cpu")
    cid = GTReader(gt).clip_ids[0]
    with np.load(tmp_path / "one" / f"{cid}.npz") as a, np.load(tmp_path / "many" / f"{cid}.npz") as b, \
            np.load(tmp_path / "bf16" / f"{cid}.npz") as c:
        np.testing.assert_allclose(b["depth"], a["depth"], rtol=1e-5)
        np.testing.assert_allclose(b["canonical"], a["canonical"], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(c["depth"], a["depth"], rtol=0.05)  # bf16 keeps ~3 digits
    with pytest.raises(InputError, match="choose from"):
        predict(gt, tmp_path / "bad", checkpoint=checkpoint, benchmark="synth-v1", device="tpu",
                progress=False)


def test_transformer_frame_is_the_transformer_one_frame_at_a_time(gt, checkpoint, tmp_path):
    """``transformer-frame`` (its own leaderboard row) = ``transformer`` with a window of one frame."""
    from facebench.methods.run import predict as run

    frame = run("transformer-frame", tmp_path / "frame", gt=gt, benchmark="synth-v1", checkpoint=checkpoint,
                frames_per_window=3, progress=False)  # the window option is overridden: always 1
    one = run("transformer", tmp_path / "one", gt=gt, benchmark="synth-v1", checkpoint=checkpoint,
              frames_per_window=1, progress=False)
    assert frame["method"] == one["method"] + "-frame" and frame["params"]["frames_per_window"] == 1
    cid = GTReader(gt).clip_ids[0]
    with np.load(tmp_path / "frame" / f"{cid}.npz") as a, np.load(tmp_path / "one" / f"{cid}.npz") as b:
        np.testing.assert_array_equal(a["canonical"], b["canonical"])
        np.testing.assert_array_equal(a["depth"], b["depth"])
    assert validate_predictions(tmp_path / "frame", gt=gt) == []
