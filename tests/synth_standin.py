"""A small stand-in head template for the synth / gtmaps tests (an ellipsoid with regions).

Used only when ``facebench.templates.load`` is not available yet; built with the
real ``Template`` class so deformation and canonical rules are the real ones.
"""

from __future__ import annotations

import numpy as np


def standin_template():
    from facebench.templates.template import Template

    n_lat, n_lon = 24, 36
    lat = np.linspace(0, np.pi, n_lat + 1)[1:-1]
    lon = np.linspace(0, 2 * np.pi, n_lon, endpoint=False)
    la, lo = np.meshgrid(lat, lon, indexing="ij")
    # y up, +z out of the face; radii of a head
    ring = np.stack([0.075 * np.sin(la) * np.sin(lo), 0.11 * np.cos(la), 0.095 * np.sin(la) * np.cos(lo)], -1)
    verts = np.concatenate([[[0, 0.11, 0]], ring.reshape(-1, 3), [[0, -0.11, 0]]])
    idx = 1 + np.arange(len(lat) * n_lon).reshape(len(lat), n_lon)
    nxt = np.roll(idx, -1, axis=1)
    faces = [np.stack([np.zeros(n_lon, int), idx[0], nxt[0]], 1)]
    a, b, c, d = idx[:-1], nxt[:-1], idx[1:], nxt[1:]
    faces += [np.stack([a, c, b], -1).reshape(-1, 3), np.stack([b, c, d], -1).reshape(-1, 3)]
    faces += [np.stack([np.full(n_lon, len(verts) - 1), nxt[-1], idx[-1]], 1)]
    faces = np.concatenate(faces)
    V = len(verts)
    x, y, z = verts.T
    regions = np.full(V, 2, np.uint8)                       # scalp
    regions[(z > 0.03) & (y < 0.05) & (y > -0.08)] = 1      # face
    regions[y <= -0.08] = 4                                 # neck
    regions[(np.abs(x) > 0.065) & (np.abs(y) < 0.03)] = 3   # ears
    rng = np.random.default_rng(0)
    n_id, n_exp = 6, 5
    id_basis = rng.normal(0, 0.002, (V, 3, n_id))
    exp_basis = np.zeros((V, 3, n_exp))
    exp_basis[..., 0] = np.where(regions[:, None] == 1, [0, -0.004, 0.002], 0)
    exp_basis[..., 1:] = rng.normal(0, 0.001, (V, 3, n_exp - 1)) * (regions[:, None, None] == 1)
    J = 5
    joint_reg = np.zeros((J, V))
    joint_reg[0, -1] = joint_reg[1, -1] = 1.0
    joint_reg[2, np.argmin(np.abs(y + 0.03) + np.abs(z))] = 1.0
    joint_reg[3, 0] = joint_reg[4, 0] = 1.0
    weights = np.zeros((V, J))
    weights[:, 1] = 1.0
    jaw = (y < -0.03) & (z > 0.0)
    weights[jaw, 1], weights[jaw, 2] = 0.3, 0.7
    albedo = np.tile(np.array([[0.8, 0.62, 0.52]], np.float32), (V, 1))
    arrays = dict(canonical_vertices=verts, faces=faces, identity_basis=id_basis, expression_basis=exp_basis,
                  joint_regressor=joint_reg, parents=np.array([-1, 0, 1, 1, 1]), lbs_weights=weights,
                  posedirs=None, center=np.array([0.0, -0.01, 0.04]), scale=0.1, regions=regions,
                  albedo=albedo)
    return Template("standin-head", arrays)


def load_template():
    """The real facebench-head when the templates package is ready, else the stand-in."""
    try:
        from facebench.templates import load

        return load("facebench-head")
    except (ImportError, AttributeError):
        return standin_template()
