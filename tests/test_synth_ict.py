"""synth with ICT subjects: ARKit performances, fine relief outside the template's span, exact GT."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def ict():
    from facebench.templates import load

    return load("ict-light")


@pytest.fixture(scope="module")
def capture(tmp_path_factory, ict):
    from facebench.synth import synthesize

    root = tmp_path_factory.mktemp("ict")
    return synthesize(root / "cap", preset="tiny", seed=7, sequences=["EMO-1-shout+laugh"], frames=3,
                      stride=20, truth_gt=root / "gt", progress=False)  # default template: ict-light


def test_arkit_performance_is_in_range_and_talks_smiles_blinks(ict):
    from facebench.synth.arkit import arkit_performance
    from facebench.synth.motion import make_performance, recipe

    frames = np.arange(0, 730, 2)  # 10 s at 36 fps
    names = ict.expression_names
    for seq in ("SEN-01-cramp_small_danger", "EMO-1-shout+laugh", "EMO-2-surprise+fear"):
        base = make_performance(1, "950", seq, frames, ict.n_expression)
        perf = arkit_performance(base, 1, "950", recipe(seq), names)
        w = perf.expression
        assert w.shape == (len(frames), 53) and w.min() >= 0.0 and w.max() <= 1.0
        assert np.all(perf.jaw == 0) and np.array_equal(perf.rotation, base.rotation)
        blink = w[:, names.index("eyeBlink_L")]
        assert blink.max() > 0.9 and (blink > 0.5).mean() < 0.2  # short blinks, every sequence
        if seq.startswith("SEN"):  # talking: the jaw opens and closes, mouthClose rides on it
            jaw = w[:, names.index("jawOpen")]
            assert jaw.max() > 0.25 and jaw.min() < 0.1
            assert w[:, names.index("mouthClose")].max() > 0
        if seq.startswith("EMO-1"):
            assert w[:, names.index("mouthSmile_L")].max() > 0.5
        if seq.startswith("EMO-2"):
            assert w[:, names.index("browInnerUp_L")].max() > 0.5


def test_detail_field_is_sub_millimetre_on_the_skin_only(ict):
    from facebench.synth.arkit import detail_field

    d = detail_field(ict, 3, "931")
    skin = np.isin(ict.regions, (1, 2, 3, 4))
    assert np.all(d[~skin] == 0)
    assert 0.2e-3 < np.sqrt(np.mean(d[skin] ** 2)) < 0.5e-3 and np.abs(d).max() <= 1e-3
    assert not np.allclose(d, detail_field(ict, 3, "932"))  # per subject


def test_ict_subject_is_outside_the_linear_model(ict, capture):
    """The subject's surface is the template's plus relief: a least-squares fit of every identity and
    expression coefficient (pose known) leaves a residual of the relief's size, not zero."""
    pid, seq = capture.participants[0], capture.sequences[0]
    truth = np.load(capture.truth_dir / pid / seq / "truth.npz")
    kw = dict(neck=truth["neck_axis_angle"][0], eyes=truth["eyes_axis_angle"][0],
              rotation=truth["rotation_axis_angle"][0], translation=truth["translation"][0])
    skin = np.isin(ict.regions, (1, 3))
    base = ict.deform(**kw)
    cols = []
    for k in range(ict.n_identity + ict.n_expression):
        e = np.zeros(ict.n_identity + ict.n_expression)
        e[k] = 1.0
        cols.append((ict.deform(identity=e[:100], expression=e[100:], **kw) - base)[skin].ravel())
    A = np.stack(cols, 1)
    b = (truth["vertices"][0] - base)[skin].ravel()
    x, *_ = np.linalg.lstsq(A, b, rcond=None)
    residual = np.linalg.norm((A @ x - b).reshape(-1, 3), axis=1)
    assert np.median(residual) > 0.1e-3  # the relief (0.35 mm RMS) stays


def test_ict_capture_has_exact_gt(ict, capture):
    from facebench.io.shards import GTReader, validate_gt

    assert validate_gt(capture.gt_dir) == []
    reader = GTReader(capture.gt_dir)
    assert reader.template_name == "ict-light"
    pid, seq = capture.participants[0], capture.sequences[0]
    truth = np.load(capture.truth_dir / pid / seq / "truth.npz")
    w = truth["expression"]
    assert w.shape[1] == 53 and w.min() >= 0 and w.max() <= 1
    c = reader.clip(f"{pid}/{seq}/222200037")  # decoded (schema 2 stores some maps encoded)
    mask, canon, image, K, T_cw = c.mask, c.canonical, c.image, c.K, c.T_cam_from_world
    assert (mask == 1).sum() > 50 and np.all(np.isfinite(canon[mask == 1]))
    # face pixels' canonical coordinates lie on the subject's surface where the pixel looks
    ys, xs = np.nonzero(mask[0] == 1)
    pts = ict.from_canonical(canon[0][ys, xs], truth["vertices"][0])
    cam = (pts @ T_cw[:3, :3].T + T_cw[:3, 3]) @ K.T
    assert np.abs(cam[:, :2] / cam[:, 2:] - np.stack([xs, ys], 1)).max() < 1e-3
    assert image[0][mask[0] == 1].std() > 5  # textured skin, not a flat colour
