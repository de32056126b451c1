"""The Face Anything adapter, offline on CPU: DA3-small with a random deformation head saved as a
fake checkpoint, run end to end (predict -> evaluate -> leaderboard publish)."""

import argparse
import json

import numpy as np
import pytest

pytest.importorskip("depth_anything_3", reason="pip install --no-deps depth-anything-3==0.1.1")
pytest.importorskip("cv2")
torch = pytest.importorskip("torch")

from facebench.adapters import face_anything as fa  # noqa: E402
from facebench.adapters.da3_preprocess import preprocess, process_size, resize_back, scale_K  # noqa: E402
from facebench.errors import FacebenchError  # noqa: E402
from tests.gt_fixtures import make_gt  # noqa: E402


def _small_network_state():
    """da3-small plus a small deformation head (64 features), random weights, 'model.' keys."""
    from depth_anything_3.cfg import create_object, load_config
    from depth_anything_3.model import dpt
    from depth_anything_3.registry import MODEL_REGISTRY

    torch.manual_seed(0)
    net = create_object(load_config(MODEL_REGISTRY["da3-small"]))
    net.deformation_head = dpt.DPT(768, output_dim=4, head_name="deformation", use_sky_head=False,
                                   activation="linear", features=64, out_channels=(48, 96, 192, 384))
    return {f"model.{k}": v.half() for k, v in net.state_dict().items()}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("fa") / "checkpoint.pt"
    torch.save({"model": _small_network_state(), "epoch": 3}, path)
    return path


def test_process_size_and_K_by_hand():
    # 176x256 clip, long side -> 504: scale 1.96875, w = round(346.5) = 346 -> nearest multiple of 14 = 350
    assert process_size(176, 256, 504) == ((346, 504), (350, 504))
    assert process_size(6, 8, 56) == ((42, 56), (42, 56))
    assert process_size(1000, 500, 504) == ((504, 252), (504, 252))
    K = np.array([[100.0, 0, 87.5], [0, 120.0, 127.5], [0, 0, 1]])
    K2 = scale_K(K, (176, 256), (350, 504))
    np.testing.assert_allclose(K2, [[100 * 350 / 176, 0, 87.5 * 350 / 176],
                                    [0, 120 * 504 / 256, 127.5 * 504 / 256], [0, 0, 1]])
    np.testing.assert_allclose(scale_K(K2, (350, 504), (176, 256)), K)


def test_preprocess_normalises_and_scales_K():
    images = np.full((2, 8, 6, 3), 255, np.uint8)
    K = np.array([[10.0, 0, 2.5], [0, 10.0, 3.5], [0, 0, 1]])
    x, K2, size = preprocess(images, K, process_res=56)
    assert x.shape == (2, 3, 56, 42) and size == (42, 56)
    np.testing.assert_allclose(x[0, :, 10, 10], (1 - np.array([0.485, 0.456, 0.406])) / [0.229, 0.224, 0.225],
                               rtol=1e-5)
    np.testing.assert_allclose(K2[:2, :], [[70, 0, 17.5], [0, 70, 24.5]])


def test_resize_back_by_hand():
    maps = np.array([[[0.0, 1.0], [2.0, 3.0]]])  # (1,2,2) -> (1,4,4), pixel centres aligned
    out = resize_back(maps, 4, 4)
    np.testing.assert_allclose(out[0, 0], [0, 0.25, 0.75, 1])
    np.testing.assert_allclose(out[0, 3], [2, 2.25, 2.75, 3])
    assert resize_back(np.zeros((2, 4, 6, 3)), 8, 12).shape == (2, 8, 12, 3)


def test_variant_and_checkpoint_errors(checkpoint, tmp_path):
    state = fa.read_checkpoint(checkpoint)
    assert fa.detect_variant(state) == "da3-small"
    assert all(not k.startswith("model.") for k in state)
    plain = tmp_path / "plain.pt"
    torch.save({k: v for k, v in state.items() if not k.startswith("deformation_head.")}, plain)
    with pytest.raises(FacebenchError, match="no deformation head"):
        fa.build_network(fa.read_checkpoint(plain))
    with pytest.raises(FacebenchError, match="expects 768 input channels"):
        fa.build_network(state, variant="da3-base")
    pickled = tmp_path / "pickled.pt"
    torch.save({"model": state, "args": argparse.Namespace(lr=1e-4)}, pickled)  # as training scripts do
    with pytest.raises(FacebenchError, match="--trust-checkpoint"):
        fa.read_checkpoint(pickled)
    assert fa.read_checkpoint(pickled, trust_checkpoint=True).keys() == state.keys()
    with pytest.raises(FacebenchError, match="not found"):
        fa.read_checkpoint(tmp_path / "nope.pt")


def test_predict_evaluate_publish(checkpoint, tmp_path):
    from facebench.cli import main
    from facebench.evaluate import evaluate
    from facebench.io.predictions import load_prediction
    from facebench.leaderboard import publish, read_table

    gt = make_gt(tmp_path / "gt", T=2, participants=("901",))
    out = tmp_path / "preds"
    with pytest.raises(SystemExit) as exc:
        main(["predict", "face-anything", "--checkpoint", str(checkpoint), "--gt", str(gt), "--out", str(out),
              "--device", "cpu", "--process-res", "56"])
    assert exc.value.code == 0
    meta = json.loads((out / "meta.json").read_text())
    assert meta["method"] == "face-anything-small" and meta["depth_scale"] == "relative"
    assert meta["canonical_space"] == "face-anything" and meta["params"]["variant"] == "da3-small"
    cid = "901/EXP-1-head/222200037"
    pred = load_prediction(out, cid, {"T": 2, "H": 8, "W": 6, "N": 5})
    assert pred["depth"].shape == (2, 8, 6) and pred["canonical"].shape == (2, 8, 6, 3)
    assert pred["tracks_xy"].shape == (5, 2, 2) and np.isfinite(pred["depth"]).all()
    assert (pred["depth"] > 0).all()  # DualDPT's exp activation
    record = evaluate(out, gt=gt, out=tmp_path / "r.json", progress=False)
    assert set(record["metrics"]) == {"depth", "canonical", "tracking_2d", "tracking_3d"}
    assert record["method"]["depth_scale"] == "relative"
    paths = publish([tmp_path / "r.json"], out=tmp_path / "boards")
    table = read_table(next(p for p in paths if str(p).endswith(".csv")))
    assert list(table["method"]) == ["face-anything-small"]


def test_registry_method_contract(checkpoint):
    from types import SimpleNamespace

    options = SimpleNamespace(checkpoint=str(checkpoint), device="cpu", extra={"process_res": 28})
    method = fa.method(options)
    assert method.name == "face-anything-small" and method.params["variant"] == "da3-small"
    images = np.random.default_rng(0).integers(0, 255, (1, 10, 7, 3), dtype=np.uint8)
    out = method.predict_clip(SimpleNamespace(images=images))
    assert out["depth"].shape == (1, 10, 7) and out["canonical"].shape == (1, 10, 7, 3)
    assert out["confidence"].min() >= 1  # expp1
