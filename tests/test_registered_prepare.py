"""``prepare ava256``: the fitted template against the subject, the CLI, resume; the outer-side depth."""

from __future__ import annotations

import numpy as np
import pytest

from facebench.io.shards import GTReader, validate_gt
from facebench.prepare.registered import prepare_registered

FAST = {"fit": {"iterations": 80, "offset_iterations": 20}, "maps": {"n_tracks": 32},
        "registered": {"samples_per_face": 1}}
PID, SEQ = "AAN112", "EXP_free_face"


@pytest.fixture(scope="module")
def ava(tmp_path_factory):
    from tests.ava256_builder import build_ava256

    return build_ava256(tmp_path_factory.mktemp("ava") / "root", image_ext="png")


def _face_error_mm(gt_vertices, truth_vertices):
    from facebench.templates import load

    face = load("ict-light").regions == 1
    return np.linalg.norm(gt_vertices[:, face] - truth_vertices[:, face], axis=-1) * 1000.0


def test_prepare_ava256_follows_the_subject(ava, tmp_path):
    """The template bound to the registered mesh lands on the subject's own (ict-light) vertices."""
    out = tmp_path / "gt"
    summary = prepare_registered("ava256", ava.root, out, sequences=SEQ, config=FAST, progress=False)
    assert summary.sequences_done == 1 and summary.clips == 3 and summary.qc_frames.get("fail", 0) == 0
    assert validate_gt(out, check_hashes=True) == []
    reader = GTReader(out)
    cameras = reader.sequence_attrs(PID, SEQ)["qc"]["cameras"]  # the camera check, before the fit
    assert cameras["flag"] == "pass" and min(cameras["figures"]["inside_mask"]["values"].values()) > 0.95
    assert reader.sequence_qc(PID, SEQ)["cameras"]["flag"] == "pass"
    frame_ids, vertices = reader.sequence_vertices(PID, SEQ)
    truth = np.stack([ava.template_vertices[(PID, int(f))] for f in frame_ids])
    err = _face_error_mm(np.asarray(vertices, np.float64), truth)
    assert np.median(err) < 1.0 and np.percentile(err, 90) < 2.5
    clip = reader.clip(f"{PID}/{SEQ}/400900", fields=("depth", "canonical", "mask"))
    on = clip.mask > 0
    assert on.mean() > 0.05 and np.isfinite(clip.canonical[on]).all(-1).mean() > 0.95
    # depth: the registered mesh, where the segmentation says foreground; the true depth there
    true_depth = ava.renders[(PID, int(frame_ids[0]), "400900")][2]
    ok = np.isfinite(clip.depth[0]) & np.isfinite(true_depth)
    assert np.median(np.abs(clip.depth[0][ok] - true_depth[ok])) < 5e-4
    reader.close()
    # the CLI with the same overrides from a file: same config hash, so nothing is redone
    import yaml
    from click.testing import CliRunner

    from facebench.cli import cli

    (tmp_path / "fast.yaml").write_text(yaml.safe_dump(FAST))
    res = CliRunner().invoke(cli, ["prepare", "ava256", str(ava.root), "--out", str(out), "--sequences", SEQ,
                                   "--config", str(tmp_path / "fast.yaml"), "--quiet"])
    assert res.exit_code == 0, res.output
    assert "prepared 0 sequences" in res.output and "skipped 1 already done" in res.output


def test_surface_depth_sees_only_the_outer_side():
    """Through an open surface's hole (a registered mesh's eyes, mouth) rays meet its inner side:
    invalid; the outer side is kept, whatever the triangles' winding."""
    import trimesh

    from facebench.geometry import Camera
    from facebench.prepare.registered import outward_sign, surface_depth
    from facebench.synth.rig import look_at

    box = trimesh.creation.box(extents=(0.2, 0.2, 0.2))
    v, f = np.asarray(box.vertices), np.asarray(box.faces)[box.face_normals[:, 2] < 0.5]  # open at +z
    K = [[100.0, 0.0, 15.5], [0.0, 100.0, 15.5], [0.0, 0.0, 1.0]]
    into_the_opening = Camera(K, look_at([0.0, 0.0, 1.0], [0.0, 0.0, 0.0]), 32, 32)
    at_the_back = Camera(K, look_at([0.0, 0.0, -1.0], [0.0, 0.0, 0.0]), 32, 32)
    for faces in (f, f[:, ::-1]):
        sign = outward_sign(v, faces)
        assert np.isnan(surface_depth(v, faces, into_the_opening, sign)).all()
        d = surface_depth(v, faces, at_the_back, sign)
        assert np.isfinite(d).sum() > 100 and np.nanmax(np.abs(d - 0.9)) < 1e-5
