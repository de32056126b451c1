"""The temporal photometric term of the fit: the true surface scores better than a slid one."""

import numpy as np
import pytest


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    from facebench.synth import synthesize

    root = tmp_path_factory.mktemp("photo")
    r = synthesize(root / "cap", preset="tiny", seed=5, sequences=["EXP-1-head"], frames=3, stride=6,
                   truth_gt=root / "gt", template="facebench-head", progress=False,
                   gt_options={"image_codec": "png"})
    return r


def test_true_surface_is_photo_consistent_and_a_slid_one_is_not(capture):
    import torch

    from facebench.geometry import vertex_normals
    from facebench.io.shards import GTReader
    from facebench.prepare.photo import PhotoTerm
    from facebench.templates import load

    head = load("facebench-head")
    reader = GTReader(capture.gt_dir)
    clips = [reader.clip(c) for c in reader.clip_ids]
    from facebench.geometry import Camera

    cams = [Camera(c.K, c.T_cam_from_world, c.shape[2], c.shape[1]) for c in clips]
    pid, seq = capture.participants[0], capture.sequences[0]
    _, vertices = reader.sequence_vertices(pid, seq)
    vertices = np.asarray(vertices, np.float64)
    face = np.flatnonzero(head.regions == 1)
    term = PhotoTerm([c.image for c in clips], [c.depth for c in clips], cams, face, blur_px=1.0)
    normals = np.stack([vertex_normals(v, head.faces) for v in vertices])
    term.update_visibility(vertices, normals)
    assert term.pair_weight.sum() > 100  # face vertices seen in consecutive frames

    def loss(v):
        return float(term.loss(torch.as_tensor(v, dtype=torch.float32)))

    slid = vertices.copy()
    slid[1] += np.array([0.004, 0.0, 0.0])  # frame 1 slid 4 mm sideways over the skin
    assert loss(vertices) < 0.7 * loss(slid)
    v = torch.tensor(slid, dtype=torch.float32, requires_grad=True)
    term.loss(v).backward()
    assert torch.isfinite(v.grad).all() and v.grad.abs().sum() > 0  # differentiable
