import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from facebench.data import ShardDataset, rescale_K, resized_shape
from facebench.io.shards import GTReader
from tests.baseline_helpers import make_gt


@pytest.fixture(scope="module")
def gt(tmp_path_factory):
    return make_gt(tmp_path_factory.mktemp("gt"), T=6, H=24, W=32)


def test_windows_enumerate_every_start(gt):
    ds = ShardDataset(gt, window=4)
    assert len(ds) == 2 * (6 - 4 + 1)  # two clips, three starts each
    assert ds.window_of(0) == (0, 0) and ds.window_of(2) == (0, 2) and ds.window_of(3) == (1, 0)


def test_item_matches_shard(gt):
    ds = ShardDataset(gt, window=3)
    item = ds[1]  # clip 0, frames 1..3
    clip = GTReader(gt).clip(item["clip_id"], frames=slice(1, 4))
    assert item["image"].shape == (3, 3, 24, 32) and item["image"].dtype == torch.float32
    np.testing.assert_allclose(item["image"].permute(0, 2, 3, 1).numpy(), clip.image / 255.0, atol=1e-6)
    valid = np.isfinite(clip.depth)
    np.testing.assert_array_equal(item["depth_valid"].numpy(), valid)
    np.testing.assert_allclose(item["depth"].numpy()[valid], clip.depth[valid])
    assert (item["depth"].numpy()[~valid] == 0).all()
    assert item["canonical"].shape == (3, 3, 24, 32)
    assert not item["canonical_valid"][:, 0].any() and item["canonical_valid"][:, 1:].all()
    assert item["mask"].dtype == torch.uint8
    assert item["frame_index"].tolist() == [1, 2, 3]
    np.testing.assert_allclose(item["K"].numpy(), clip.K, atol=1e-6)


def test_resize_long_side_and_K():
    assert resized_shape(24, 32, 16) == (12, 16)
    K = np.array([[10.0, 0, 15.5], [0, 10.0, 11.5], [0, 0, 1]])
    K2 = rescale_K(K, (24, 32), (12, 16))
    # pixel centre convention: the image centre stays the centre, focal length halves
    np.testing.assert_allclose(K2, [[5.0, 0, 7.5], [0, 5.0, 5.5], [0, 0, 1]])


def test_resized_items_keep_nan_out(gt):
    item = ShardDataset(gt, window=2, size=16)[0]
    assert item["image"].shape == (2, 3, 12, 16) and item["depth"].shape == (2, 12, 16)
    assert torch.isfinite(item["depth"]).all() and torch.isfinite(item["canonical"]).all()
    # nearest-exact sampling picks source rows 1, 3, 5, ...: never mixes NaN row 0 into valid values
    d = item["depth"][item["depth_valid"]]
    assert ((d >= 0.9) & (d <= 1.1)).all()


def test_random_samples_are_seeded(gt):
    a = ShardDataset(gt, window=2, seed=3, samples=20)
    b = ShardDataset(gt, window=2, seed=3, samples=20)
    assert len(a) == 20 and [a.window_of(i) for i in range(20)] == [b.window_of(i) for i in range(20)]


def test_dataloader_two_workers(gt):
    ds = ShardDataset(gt, window=4)
    _ = ds[0]  # the parent opens the shard before the workers fork
    loader = DataLoader(ds, batch_size=2, num_workers=2, shuffle=False)
    batches = list(loader)
    assert sum(b["image"].shape[0] for b in batches) == len(ds)
    first = batches[0]
    assert first["depth"].shape == (2, 4, 24, 32) and len(first["clip_id"]) == 2
    torch.testing.assert_close(first["image"][0], ds[0]["image"])


def test_prior_jitter_is_a_seeded_rigid_move(gt):
    from facebench.baseline.prior import jitter_transform

    J = jitter_transform(np.random.default_rng(3), 0.01, 4.0)
    np.testing.assert_allclose(J[:3, :3] @ J[:3, :3].T, np.eye(3), atol=1e-12)
    assert np.linalg.det(J[:3, :3]) == pytest.approx(1.0) and 0 < np.linalg.norm(J[:3, 3]) < 0.1
    plain = ShardDataset(gt, window=2, prior=True)
    moved = ShardDataset(gt, window=2, prior=True, prior_jitter=(0.01, 4.0))
    zero = ShardDataset(gt, window=2, prior=True, prior_jitter=(0.0, 0.0))
    torch.testing.assert_close(zero[1]["prior"], plain[1]["prior"])
    torch.testing.assert_close(moved[1]["prior"], moved[1]["prior"])  # a pure function of (seed, index)
    assert (moved[1]["prior"] - plain[1]["prior"]).abs().max() > 1e-3
    assert (moved[1]["prior"] - moved[2]["prior"]).abs().max() > 1e-3  # each item its own move
    # the targets are never touched
    torch.testing.assert_close(moved[1]["canonical"], plain[1]["canonical"], equal_nan=True)


def test_prior_template_must_be_the_gts(tmp_path, gt):
    """A prior model trains only on GT in its own canonical space; the prior is the named template's."""
    from facebench.errors import InputError

    ict_gt = make_gt(tmp_path / "ict", T=3, H=24, W=32, template="ict-light")
    with pytest.raises(InputError, match="ict-light canonical space but the model's prior template"):
        ShardDataset(ict_gt, window=2, prior=True)
    head = ShardDataset(gt, window=2, prior=True)[0]["prior"]
    ict = ShardDataset(ict_gt, window=2, prior=True, prior_template="ict-light")[0]["prior"]
    assert head.shape == ict.shape and (head - ict).abs().max() > 1e-3  # another head, another prior
    assert torch.isfinite(ict).all() and (ict[0, 0] > 0).all()  # depth in metres, filled everywhere
    assert ict[0, 1:4].abs().max() < 3  # normalized ict-light canonical coordinates
