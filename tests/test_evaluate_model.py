"""facebench.evaluate_model: a Python function scored over a benchmark's clips."""

import json

import numpy as np
import pytest

import facebench
from facebench.errors import ValidationError
from facebench.io.shards import GTReader
from tests.gt_fixtures import gt_arrays, make_gt


@pytest.fixture(scope="module")
def gt(tmp_path_factory):
    return make_gt(tmp_path_factory.mktemp("gt") / "gt")


def test_gt_returned_by_a_function_scores_perfectly(gt, tmp_path):
    with GTReader(gt) as reader:
        by_image = {reader.clip(c).image.tobytes(): c for c in reader.clip_ids}
    calls = []

    def oracle(images, K):
        assert images.dtype == np.uint8 and images.ndim == 4 and K.shape == (3, 3)
        calls.append(images.shape)
        return gt_arrays(gt, by_image[images.tobytes()])

    record = facebench.evaluate_model(oracle, benchmark="synth-v1", gt=gt, out=tmp_path / "preds",
                                      results=tmp_path / "r.json", progress=False)
    assert len(calls) == 4 and calls[0] == (3, 8, 6, 3)
    assert record["metrics"]["depth"]["rmse_mm"] == 0 and record["metrics"]["canonical"]["mean_mm"] == 0
    assert record["metrics"]["tracking_2d"]["average_jaccard"] == 1
    assert record["method"]["method"] == "oracle"
    assert json.loads((tmp_path / "r.json").read_text()) == record
    assert (tmp_path / "preds" / "meta.json").exists()


def test_canonical_only_gets_tracks_and_temp_folder(gt):
    def canonical_only(images, K):
        T, H, W = images.shape[:3]
        return {"canonical": np.zeros((T, H, W, 3), np.float32), "depth": np.ones((T, H, W))}

    record = facebench.evaluate_model(canonical_only, benchmark="synth-v1", gt=gt, progress=False,
                                      method="zeros", meta={"depth_scale": "relative"})
    assert set(record["metrics"]) == {"depth", "canonical", "tracking_2d", "tracking_3d"}
    assert record["method"]["method"] == "zeros" and record["method"]["depth_scale"] == "relative"


@pytest.mark.parametrize("result, message", [
    ({"depht": np.zeros((3, 8, 6))}, "901/EXP-1-head/222200037: unknown key 'depht' (did you mean 'depth'?)"),
    ({"depth": np.zeros((3, 6, 8))}, "901/EXP-1-head/222200037: depth has shape (3, 6, 8), "
                                     "expected (3, 8, 6)"),
    ([1, 2], "901/EXP-1-head/222200037: predict_fn returned list"),
    ({}, "901/EXP-1-head/222200037: predict_fn returned no arrays"),
])
def test_errors_name_clip_and_key(gt, result, message):
    with pytest.raises(ValidationError) as exc:
        facebench.evaluate_model(lambda images, K: result, benchmark="synth-v1", gt=gt, progress=False)
    assert str(exc.value).startswith(message)


def test_a_failing_model_says_which_clip(gt):
    def broken(images, K):
        raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError) as exc:
        facebench.evaluate_model(broken, benchmark="synth-v1", gt=gt, progress=False)
    assert "901/EXP-1-head/222200037" in "".join(getattr(exc.value, "__notes__", [""]))
