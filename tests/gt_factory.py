"""Small, fully synthetic GT sequences for tests (no template or renderer needed)."""

import numpy as np

from facebench.io.shards import Clip, Sequence, Tracks

TEMPLATE_INFO = {"name": "test-template", "sha256": "0" * 64, "center": [0.0, 0.0, 0.0], "scale": 0.1}


def make_sequence(participant="901", sequence="EXP-1-head", serials=("222200037", "222200038"),
                  T=3, H=12, W=8, V=10, N=5, seed=0) -> Sequence:
    rng = np.random.default_rng(seed)
    clips = []
    for serial in serials:
        depth = rng.uniform(0.9, 1.1, (T, H, W)).astype(np.float32)
        depth[:, 0, :] = np.nan
        canonical = rng.uniform(-1, 1, (T, H, W, 3)).astype(np.float32)
        canonical[:, 0, :] = np.nan
        mask = np.ones((T, H, W), np.uint8)
        mask[:, 0, :] = 0
        K = np.array([[10.0, 0, (W - 1) / 2], [0, 10.0, (H - 1) / 2], [0, 0, 1]])
        tracks = Tracks(query_frame=np.zeros(N, np.int32),
                        query_canonical=rng.uniform(-1, 1, (N, 3)).astype(np.float32),
                        xy=rng.uniform(0, W - 1, (N, T, 2)).astype(np.float32),
                        xyz=rng.uniform(0.9, 1.1, (N, T, 3)).astype(np.float32),
                        visible=rng.random((N, T)) > 0.3)
        clips.append(Clip(serial=serial, image=rng.integers(0, 255, (T, H, W, 3), dtype=np.uint8),
                          mask=mask, depth=depth, canonical=canonical, K=K,
                          T_cam_from_world=np.eye(4), tracks=tracks))
    return Sequence(participant, sequence, frame_ids=np.arange(T, dtype=np.int32),
                    vertices=rng.normal(size=(T, V, 3)).astype(np.float32), clips=clips,
                    attrs={"template": TEMPLATE_INFO["name"], "fit_residual_mm": 0.0})
