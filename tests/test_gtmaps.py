"""facebench.gtmaps: GT depth/canonical/mask of a view (SPEC §2 rule) and dense tracks."""

from __future__ import annotations

import numpy as np
import pytest

from tests.synth_standin import load_template


@pytest.fixture(scope="module")
def setup():
    from facebench.geometry import Camera, render_mesh

    template = load_template()
    vertices = template.deform(translation=-template.center)  # head centre at the origin
    K = np.array([[200.0, 0, 47.5], [0, 200.0, 63.5], [0, 0, 1]])
    # 0.6 m in front of the face (+z), looking at it: camera x = world +x, camera y = world -y
    T = np.diag([1.0, -1.0, -1.0, 1.0])
    T[2, 3] = 0.6
    cam = Camera(K, T, 96, 128)
    render = render_mesh(vertices, template.faces, cam)
    assert render.hit.sum() > 1000
    return template, vertices, cam, render


def test_on_surface_pixels_get_their_exact_template_point(setup):
    from facebench.gtmaps import view_maps

    template, vertices, cam, render = setup
    depth, canonical, mask = view_maps(template, vertices, cam, render.depth, render.hit)
    hit = render.hit
    expect = template.canonical_at(render.face_id[hit], render.barycentric[hit])
    np.testing.assert_allclose(canonical[hit], expect, atol=1e-5)
    regions = np.where(template.face_regions[render.face_id[hit]] == 1, 1, 2)
    assert np.array_equal(mask[hit], regions)
    assert np.all(mask[~hit] == 0) and np.all(np.isnan(canonical[~hit])) and np.all(np.isnan(depth[~hit]))


def test_off_surface_pixels_follow_the_deformation_transfer_rule(setup):
    from facebench.gtmaps import view_maps

    template, vertices, cam, render = setup
    depth = render.depth.astype(np.float64).copy()
    near = render.hit.copy()
    near[: cam.height // 2] = False          # lower half: 1 cm in front of the surface
    far = render.hit & ~near
    far[:, : cam.width // 2] = False         # upper right: 8 cm in front (beyond max_offset)
    depth[near] -= 0.01
    depth[far] -= 0.08
    d, canonical, mask = view_maps(template, vertices, cam, depth, render.hit, exact=True)
    xyz = cam.cam_to_world(cam.unproject_depth(depth))
    want = template.to_canonical(xyz[near], vertices)
    np.testing.assert_allclose(canonical[near], want, atol=1e-6)
    from facebench.geometry import closest_points

    dist = np.abs(closest_points(vertices, template.faces, xyz[near]).distance)
    assert (dist > 0.002).mean() > 0.8  # most are off the surface; grazing rays can stay close to it
    assert np.all(mask[near][dist > 0.002] == 3) and np.all(mask[near][dist <= 0.002] != 3)
    assert np.all(mask[far] == 3)
    want_far = template.to_canonical(xyz[far], vertices)
    assert np.isnan(want_far).any()  # some are beyond max_offset from every triangle
    np.testing.assert_allclose(canonical[far], want_far, atol=1e-6)  # NaN exactly where the rule says
    np.testing.assert_allclose(d[render.hit], depth[render.hit], atol=1e-6)
    # the approximate closest-point search: same masks, same canonical for nearly every pixel
    _, fast, mask_fast = view_maps(template, vertices, cam, depth, render.hit, exact=False)
    assert np.array_equal(np.isnan(fast), np.isnan(canonical))
    assert (mask_fast == mask).mean() > 0.999
    err_mm = np.linalg.norm(fast - canonical, axis=-1)[np.isfinite(canonical[..., 0])] * template.scale * 1e3
    assert (err_mm < 1e-3).mean() > 0.9 and np.percentile(err_mm, 99) < 2.0
    # exact labels replace the computed mask on the foreground
    labels = np.full(mask.shape, 2, np.uint8)
    _, _, mask2 = view_maps(template, vertices, cam, depth, render.hit, labels=labels)
    assert np.all(mask2[render.hit] == 2) and np.all(mask2[~render.hit] == 0)


def test_foreground_without_depth_is_labelled_by_the_visible_region(setup):
    from facebench.gtmaps import view_maps

    template, vertices, cam, render = setup
    depth = render.depth.copy()
    depth[:, ::2] = np.nan
    d, canonical, mask = view_maps(template, vertices, cam, depth, render.hit)
    holes = render.hit & np.isnan(depth)
    assert np.all(np.isnan(d[holes])) and np.all(np.isnan(canonical[holes]))
    assert np.all(np.isin(mask[holes], (1, 2)))


def test_tracks_follow_the_mesh_and_respect_occlusion(setup):
    from facebench.geometry import render_mesh
    from facebench.gtmaps import tracks

    template, vertices, cam, render = setup
    shift = np.array([0.01, 0.0, 0.0])
    verts = np.stack([vertices, vertices + shift, vertices + 2 * shift])
    depth = np.stack([render_mesh(v, template.faces, cam).depth for v in verts])
    fg = np.isfinite(depth)
    depth_occ = depth.copy()
    depth_occ[2] -= 0.05  # something in front of everything at frame 2
    tr = tracks(template, verts, cam, depth_occ, fg, n_tracks=40, seed=1)
    N = len(tr.query_frame)
    assert N == 40 and tr.xy.shape == (N, 3, 2) and tr.xyz.shape == (N, 3, 3)
    assert set(tr.query_frame.tolist()) <= {0, 1}  # frame 2 is occluded everywhere: no queries there
    assert tr.visible[np.arange(N), tr.query_frame].all()
    assert not tr.visible[:, 2].any()
    # camera x is world +x: moving the head +1 cm moves points right by f * 0.01 / z pixels
    dx = tr.xy[:, 1, 0] - tr.xy[:, 0, 0]
    z = tr.xyz[:, 0, 2]
    np.testing.assert_allclose(dx, 200.0 * 0.01 / z, rtol=1e-4)
    np.testing.assert_allclose(tr.xyz[:, 1] - tr.xyz[:, 0], np.broadcast_to([0.01, 0, 0], (N, 3)), atol=1e-6)
    c = tr.query_canonical
    assert np.all(np.isfinite(c)) and np.abs(c).max() < 2.0
    again = tracks(template, verts, cam, depth_occ, fg, n_tracks=40, seed=1)
    assert np.array_equal(again.query_canonical, tr.query_canonical)
