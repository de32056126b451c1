"""Methods on real footage: the transformer's fitted prior and domain randomisation, and
landmark-fit's per-landmark weights and bounded blendshapes."""

from __future__ import annotations

import numpy as np
import pytest

from facebench.io.shards import GTWriter
from tests.baseline_helpers import SMALL
from tests.gt_factory import TEMPLATE_INFO, make_sequence


@pytest.fixture(scope="module")
def head_gt(tmp_path_factory):
    """A GT folder whose sequence vertices are the facebench-head template (moved a little)."""
    from facebench.templates import load

    t = load("facebench-head")
    path = tmp_path_factory.mktemp("gt")
    writer = GTWriter(path, template={**TEMPLATE_INFO, "name": "facebench-head"}, dataset="unit", config={})
    seq = make_sequence(participant="101", T=4, H=24, W=32, seed=0)
    v = np.asarray(t.canonical_vertices, np.float32)
    seq.vertices = np.stack([v + [0.003 * k, 0, 0] for k in range(4)]).astype(np.float32)
    writer.commit(writer.write_sequence(seq, 0))
    return path


# -- domain randomisation --------------------------------------------------------------------------------

def test_reframe_zoom_keeps_projection_consistent():
    """A pixel's content moves where the new K says its 3D point projects."""
    from facebench.baseline.augment import reframe

    H, W = 40, 30
    rng = np.random.default_rng(3)
    K = np.array([[50.0, 0, 14.5], [0, 50.0, 19.5], [0, 0, 1]])
    depth = np.full((1, H, W), 1.0, np.float32)
    mask = np.zeros((1, H, W), np.uint8)
    mask[0, 20, 15] = 1  # one marked pixel at (x=15, y=20), depth 1 m
    image = np.zeros((1, H, W, 3), np.uint8)
    can = np.zeros((1, H, W, 3), np.float32)
    _, m2, d2, c2, K2 = reframe(rng, image, mask, depth, can, K)
    xyz = np.linalg.inv(K) @ [15, 20, 1.0]
    uv = K2 @ xyz
    ys, xs = np.nonzero(m2[0])
    assert len(ys) >= 1
    assert np.abs(xs.mean() - uv[0]).max() <= 1.0 and np.abs(ys.mean() - uv[1]).max() <= 1.0
    assert m2.shape == mask.shape and d2.shape == depth.shape and c2.shape == can.shape


def test_photometric_is_deterministic_and_occluders_are_not_face():
    from facebench.baseline.augment import photometric

    T, H, W = 2, 48, 32
    image = np.full((T, H, W, 3), 0.5, np.float32)
    mask = np.zeros((T, H, W), np.uint8)
    mask[:, 8:40, 6:26] = 1
    valid = mask > 0
    runs = [photometric(np.random.default_rng([5, i]), image, mask, valid, valid, p_occluder=1.0)
            for i in (0, 0, 1)]
    np.testing.assert_array_equal(runs[0][0], runs[1][0])  # a pure function of the generator
    assert not np.array_equal(runs[0][0], runs[2][0])
    for img, m, vd, vc in runs:
        assert img.shape == image.shape and img.dtype == np.float32 and 0 <= img.min() <= img.max() <= 1
        assert (m <= mask).all() and (vc == (m > 0)).all() and (vd == vc).all()  # occluded: no target
    assert any((r[1] < mask).any() for r in runs)  # an occluder took face pixels


# -- the fitted prior ------------------------------------------------------------------------------------

def test_simulated_fit_is_near_the_gt_mesh(head_gt):
    from facebench.baseline.prior import simulated_fit
    from facebench.io.shards import GTReader

    _, verts = GTReader(head_gt).sequence_vertices("101", "EXP-1-head")
    fit = simulated_fit(np.random.default_rng(0), verts, "facebench-head", (0.01, 4.0), (0.002, 1.0))
    assert fit.shape == verts.shape
    err = np.linalg.norm(fit - verts, axis=-1)
    assert 0.001 < np.median(err) < 0.05  # a few millimetres to centimetres off: a fit, not the truth
    zero = simulated_fit(np.random.default_rng(0), verts, "facebench-head", (0.0, 0.0), (0.0, 0.0))
    assert np.median(np.linalg.norm(zero - verts, axis=-1)) < 1e-3  # no error: on the head


def test_dataset_fit_prior_is_per_frame_and_follows_the_head(head_gt):
    from facebench.data import ShardDataset

    ds = ShardDataset(head_gt, window=4, size=32, prior=True, prior_template="facebench-head",
                      prior_source="fit", augment=True, samples=3, seed=1)
    item = ds[0]
    assert item["prior"].shape == (4, 5, 24, 32) and item["image"].dtype.__str__() == "torch.float32"
    again = ds[0]
    np.testing.assert_array_equal(item["image"].numpy(), again["image"].numpy())
    np.testing.assert_array_equal(item["prior"].numpy(), again["prior"].numpy())
    with pytest.raises(Exception, match="prior_source"):
        ShardDataset(head_gt, prior=True, prior_template="facebench-head", prior_source="rigg")


def test_fit_prior_model_trains_and_predicts(head_gt, tmp_path):
    """A model with prior_source fit trains on simulated fits and predicts from given fitted meshes."""
    from facebench.baseline.checkpoint import load_model
    from facebench.baseline.inference import run_transformer
    from facebench.baseline.train import train
    from facebench.io.shards import GTReader

    overrides = {**SMALL, "prior": True, "template": "facebench-head", "prior_source": "fit",
                 "pose_head": True}
    train(head_gt, tmp_path, config="tiny", steps=2, batch_size=1, window=2, model_overrides=overrides,
          augment=True, progress=False)
    model, meta = load_model(tmp_path / "checkpoint.safetensors")
    assert model.config.prior_source == "fit" and meta["train"]["augment"] is True
    reader = GTReader(head_gt)
    clip = reader.clip(reader.clip_ids[0])
    _, verts = reader.sequence_vertices("101", "EXP-1-head")
    out = run_transformer(model, clip.image, 2, 32, K=clip.K, T_cam_from_world=clip.T_cam_from_world,
                          fitted_vertices=verts)
    assert out["canonical"].shape == (4, 24, 32, 3) and np.isfinite(out["depth"]).all()
    with pytest.raises(ValueError, match="fitted_vertices"):
        run_transformer(model, clip.image, 2, 32, K=clip.K, T_cam_from_world=clip.T_cam_from_world)


# -- landmark-fit's per-landmark weights -----------------------------------------------------------------

def _face_track(T=9, seed=0):
    """(T,68,2) landmarks of a face moving rigidly (translation, rotation, scale)."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(-1, 1, (68, 2)) * 40
    base[36], base[45] = [-30, 0], [30, 0]
    out = []
    for t in range(T):
        a = 0.05 * t
        R = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        out.append((1 + 0.02 * t) * base @ R.T + [100 + 3 * t, 80 - 2 * t])
    return np.asarray(out)


def test_temporal_confidence_flags_a_jumping_landmark():
    from facebench.methods.landmark_confidence import TEMPORAL_SCALE, temporal_confidence

    lmk = _face_track()
    conf = temporal_confidence(lmk)
    assert conf.min() > 0.99  # rigid motion alone is not a jump
    iod = 60.0 * (1 + 0.02 * 4)
    lmk[4, 60] += [TEMPORAL_SCALE * iod, 0]  # one mouth point jumps by one TEMPORAL_SCALE in frame 4
    conf = temporal_confidence(lmk)
    assert conf[4, 60] == pytest.approx(0.5, abs=0.05)  # 1 / (1 + 1^2)
    others = np.delete(conf[4], 60)
    assert others.min() > 0.95
    assert (temporal_confidence(lmk[:2]) == 1).all()  # too short to compare


def test_robust_weights_values():
    from facebench.methods.landmark_confidence import ROBUST_SCALE, robust_weights

    np.testing.assert_allclose(robust_weights([0.0, ROBUST_SCALE, 3 * ROBUST_SCALE]), [1.0, 0.5, 0.1])


def test_landmark_fit_blendshapes_stay_in_unit_interval():
    """ICT blendshape weights are bounded in [0, 1] whatever the landmarks ask for."""
    from facebench.methods.landmark_fit import fit_landmarks
    from facebench.templates import load

    t = load("ict-light")
    K = np.array([[500.0, 0, 128], [0, 500.0, 128], [0, 0, 1]])
    L = t.landmarks_world(t.canonical_vertices)
    cam = L * [1, -1, -1] + [0, 0, 0.6]  # facing the camera
    uv = cam[:, :2] / cam[:, 2:] * 500 + 128
    uv[48:68] += np.random.default_rng(0).normal(0, 6, (20, 2))  # a distorted mouth
    fit = fit_landmarks(t, uv[None], K, steps=60)
    assert fit["expression"].min() >= 0.0 and fit["expression"].max() <= 1.0
    assert np.isfinite(fit["reprojection_px"]).all() and fit["reprojection_px"][0] < 6.0
