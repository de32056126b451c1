import pytest
import torch

from facebench.baseline.config import CONFIGS, ModelConfig, get_config
from facebench.baseline.losses import (
    canonical_error,
    confidence_weighted,
    depth_gradient_matching,
    depth_scale_invariant,
    total_loss,
)
from facebench.baseline.model import FaceTransformer, count_parameters
from facebench.errors import FacebenchError
from tests.baseline_helpers import SMALL

WEIGHTS = {"w_depth_si": 1.0, "w_depth_grad": 0.5, "w_depth_conf": 0.1, "w_canonical": 1.0,
           "w_foreground": 0.2, "alpha_depth": 0.05, "alpha_canonical": 0.2, "si_lambda": 0.5}


def small_model(seed=0):
    torch.manual_seed(seed)
    return FaceTransformer(get_config("tiny", **SMALL))


def prior_model_and_inputs(B=1, S=2, H=16, W=16, **overrides):
    """A small model that takes the template prior, random frames and a prior (depth in metres)."""
    torch.manual_seed(0)
    model = FaceTransformer(get_config("tiny", **{**SMALL, "prior": True, **overrides}))
    prior = torch.rand(B, S, 5, H, W)
    prior[:, :, 0] += 0.5
    return model, torch.rand(B, S, 3, H, W), prior


def test_forward_keys_and_shapes_any_size():
    model = small_model()
    out = model(torch.rand(2, 3, 3, 20, 28))  # not a multiple of the patch: padded inside
    assert set(out) == {"depth", "depth_confidence", "canonical", "canonical_confidence", "foreground_logit"}
    assert out["depth"].shape == (2, 3, 20, 28) and out["canonical"].shape == (2, 3, 3, 20, 28)
    assert (out["depth"] > 0).all() and (out["depth_confidence"] >= 1).all()
    assert (out["canonical_confidence"] >= 1).all()
    # zero-initialised output layers: 1 m depth, canonical origin, confidence 2
    torch.testing.assert_close(out["depth"], torch.ones_like(out["depth"]))
    torch.testing.assert_close(out["canonical_confidence"], torch.full_like(out["depth"], 2.0))


def test_frames_talk_through_global_attention():
    model = small_model()
    x = torch.rand(1, 2, 3, 16, 16)
    x2 = x.clone()
    x2[0, 1] = torch.rand(3, 16, 16)  # change only frame 1
    feats_a, feats_b = model.encoder(x), model.encoder(x2)  # out_layers 0..3; block 0 is frame attention
    torch.testing.assert_close(feats_a[0][0], feats_b[0][0])  # frame 0 untouched after frame attention
    assert (feats_a[1][0] - feats_b[1][0]).abs().max() > 1e-4  # ...and changed after global attention


def test_named_configs():
    assert 2e6 < count_parameters(FaceTransformer(CONFIGS["tiny"])) < 6e6
    assert ModelConfig.from_dict(CONFIGS["base"].to_dict()) == CONFIGS["base"]
    with pytest.raises(FacebenchError, match="did you mean 'tiny'"):
        get_config("tinny")


def test_depth_losses_zero_when_exact_or_scaled():
    gt = torch.rand(2, 8, 8) + 0.5
    valid = torch.ones(2, 8, 8, dtype=torch.bool)
    assert depth_scale_invariant(gt, gt, valid).item() == pytest.approx(0.0, abs=1e-7)
    assert depth_gradient_matching(gt * 3.0, gt, valid).item() == pytest.approx(0.0, abs=1e-6)
    # log residual d = log 2 everywhere: mean(d^2) - 0.5 mean(d)^2 = 0.5 log(2)^2; lam=1 ignores scale
    assert depth_scale_invariant(gt * 2, gt, valid).item() == pytest.approx(0.5 * 0.6931472**2, rel=1e-5)
    assert depth_scale_invariant(gt * 2, gt, valid, lam=1.0).item() == pytest.approx(0.0, abs=1e-6)
    noisy = gt * (1 + 0.1 * torch.rand_like(gt))
    assert depth_gradient_matching(noisy, gt, valid).item() > 0


def test_invalid_pixels_do_not_count():
    gt = torch.ones(1, 4, 4)
    pred = torch.ones(1, 4, 4)
    pred[0, 0, 0] = 100.0  # wrong only where GT is invalid
    valid = torch.ones(1, 4, 4, dtype=torch.bool)
    valid[0, 0, 0] = False
    assert depth_scale_invariant(pred, gt, valid).item() == 0.0
    assert depth_gradient_matching(pred, gt, valid).item() == 0.0
    e = canonical_error(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 4))
    e[0, 0, 0] = 5.0
    assert confidence_weighted(e, torch.ones_like(e), valid, alpha=0.0).item() == pytest.approx(0.0, abs=1e-5)


def test_confidence_weighted_hand_values():
    e = torch.full((1, 2, 2), 0.5)
    c = torch.full((1, 2, 2), 2.0)
    valid = torch.ones(1, 2, 2, dtype=torch.bool)
    # c*e - alpha*log c = 1.0 - 0.1*log 2
    assert confidence_weighted(e, c, valid, 0.1).item() == pytest.approx(1.0 - 0.1 * 0.6931472, rel=1e-6)
    assert canonical_error(torch.zeros(1, 3, 1, 1), torch.tensor([3.0, 4.0, 0.0]).view(1, 3, 1, 1)).item() \
        == pytest.approx(5.0)


def test_gradients_reach_every_parameter():
    model = small_model()
    B, S, H, W = 1, 2, 16, 16
    ones = torch.ones(B, S, H, W, dtype=torch.bool)
    batch = {"depth": torch.rand(B, S, H, W) + 0.5, "depth_valid": ones,
             "canonical": torch.rand(B, S, 3, H, W), "canonical_valid": ones}
    # two steps: the zero-initialised output layer first becomes non-zero, then all layers get gradient
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(2):
        opt.zero_grad()
        loss, terms = total_loss(model(torch.rand(B, S, 3, H, W)), batch, WEIGHTS)
        loss.backward()
        opt.step()
    assert terms["loss"] > 0 and terms["canonical_err"] > 0
    missing = [n for n, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert missing == []


def test_prior_model_starts_at_the_prior():
    model, images, prior = prior_model_and_inputs()
    rotation = torch.tensor([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])[None]  # any camera
    out = model(images, prior, rotation=rotation)
    # zero-initialised output layers: corrections are zero, the prediction is the prior
    torch.testing.assert_close(out["depth"], prior[:, :, 0])
    torch.testing.assert_close(out["canonical"], prior[:, :, 1:4])
    with pytest.raises(ValueError, match="template prior"):
        model(images)


def test_pose_head_starts_at_identity_and_maps_the_prior():
    model, images, prior = prior_model_and_inputs(pose_head=True, camera_frame=False)
    out = model(images, prior)
    eye = torch.cat([torch.eye(3), torch.zeros(3, 1)], dim=1).expand(1, 2, 3, 4)
    torch.testing.assert_close(out["canonical_affine"], eye)
    torch.testing.assert_close(out["canonical"], prior[:, :, 1:4])
    # a known affine in the last layer's bias: canonical = A @ prior + b, pixel by pixel
    theta = torch.tensor([0.1, 0.0, 0.0, 0.0, -0.2, 0.05, 0.0, 0.0, 0.0, 0.3, -0.1, 0.02])
    with torch.no_grad():
        model.pose_head.mlp[-1].bias.copy_(theta)
    out = model(images, prior)
    A = torch.eye(3) + theta[:9].reshape(3, 3)
    want = torch.einsum("ij,bsjhw->bsihw", A, prior[:, :, 1:4]) + theta[9:].view(1, 1, 3, 1, 1)
    torch.testing.assert_close(out["canonical"], want)
    torch.testing.assert_close(out["canonical_affine"][0, 1], torch.cat([A, theta[9:, None]], dim=1))
    # without a prior the pose head does not exist (it has nothing to map)
    assert FaceTransformer(get_config("tiny", **SMALL)).pose_head is None


def test_mask_moments_by_hand():
    from facebench.baseline.model import mask_moments

    w = torch.zeros(1, 5, 5)
    w[0, 1, 3] = w[0, 3, 3] = 1.0  # two pixels: x = 0.5, y = -0.5 and +0.5 on a [-1, 1] grid
    canonical = torch.zeros(1, 3, 5, 5)
    canonical[0, 2, 1, 3], canonical[0, 2, 3, 3] = 1.0, 3.0
    m = mask_moments(w, canonical)[0]
    torch.testing.assert_close(m, torch.tensor([2 / 25, 0.5, 0.0, 0.0, 0.25, 0.0, 0.0, 0.0, 2.0]))


def test_camera_frame_corrections_turn_with_the_camera():
    model, images, prior = prior_model_and_inputs(pose_head=True, camera_frame=True)
    with torch.no_grad():
        model.pose_head.mlp[-1].bias.copy_(torch.tensor([0.0] * 9 + [0.3, 0.0, 0.0]))  # +x along the camera
    c, s = 0.6, 0.8
    R = torch.tensor([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])  # camera-from-world rotation about y
    out = model(images, prior, rotation=R[None])
    shift = (out["canonical"] - prior[:, :, 1:4]).mean(dim=(0, 1, 3, 4))
    torch.testing.assert_close(shift, R.T @ torch.tensor([0.3, 0.0, 0.0]))  # camera x, in canonical axes
    torch.testing.assert_close(out["canonical_affine"][0, 0, :, :3], torch.eye(3))
    out["canonical"].sum().backward()
    assert model.pose_head.mlp[-1].weight.grad.abs().sum() > 0
    # dense_canonical=False: the canonical head's xyz is ignored, canonical is the pose head's map
    model, _, _ = prior_model_and_inputs(pose_head=True, dense_canonical=False)
    with torch.no_grad():
        model.canonical_head.out[-1].bias.fill_(0.5)  # a dense correction that must not show
    out = model(images, prior, rotation=R[None])
    torch.testing.assert_close(out["canonical"], prior[:, :, 1:4])
    with pytest.raises(ValueError, match="rotation"):
        model(images, prior)
