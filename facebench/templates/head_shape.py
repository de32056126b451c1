"""Geometry of the procedural facebench-head: a closed skin surface plus two eyeballs.

Canonical frame: metres, +y up, +z forward out of the face (the nose tip has the
largest z), +x towards the subject's left.  The eyes sit at y = 0.028; the chin
bottom is near y = -0.11 and the top of the skull at y = 0.125.

The skin is star-shaped about ``ORIGIN``: every grid vertex lies on a ray
``ORIGIN + r d(theta, phi)`` whose length is a smooth union of three primitives
(cranium ellipsoid, lower-face ellipsoid, neck cylinder); facial features are
smooth displacement fields added on top (:func:`feature_displacement`).  The grid
is denser on the face and around the ears.  One grid row carries the mouth: its
vertices between the mouth corners are duplicated (upper lip keeps the originals,
the lower lip uses the copies) and a pocket surface (the mouth interior) closes
the slit, so the skin stays a closed, consistently oriented surface.
"""

from __future__ import annotations

import numpy as np

ORIGIN = np.array([0.0, -0.02, -0.005])
N_ROWS, N_COLS = 58, 92
EYE_CENTER_Y, EYE_CENTER_X = 0.028, 0.031
EYE_RADIUS = 0.0125
EYE_OPENING = (0.0135, 0.0058)  # half width, half height of the eye opening
MOUTH_HALF_WIDTH = 0.024
MOUTH_THETA = np.deg2rad(112.0)  # polar angle (from +y) of the mouth row at the front
EAR_CENTER = np.array([0.0, -0.004, -0.012])  # y, z of the ear centre (x from the surface)
EAR_HALF = (0.032, 0.018)  # half height (y), half width (z)
POCKET_DEPTH = (0.003, 0.010, 0.019, 0.028)
POCKET_HEIGHT = (0.003, 0.009, 0.012, 0.008)
POCKET_NARROW = (0.97, 0.9, 0.78, 0.55)


def smoothstep(t):
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def gauss(x, y, cx, cy, sx, sy):
    return np.exp(-0.5 * (((x - cx) / sx) ** 2 + ((y - cy) / sy) ** 2))


# -- base shape -------------------------------------------------------------------
def _ray_ellipsoid(d, center, axes):
    o = (ORIGIN - center) / axes
    dd = d / axes
    a = np.sum(dd * dd, -1)
    b = np.sum(o * dd, -1)
    c = np.sum(o * o) - 1.0
    return (-b + np.sqrt(b * b - a * c)) / a


def _ray_superellipsoid(d, center, axes, power):
    """Ray length from ORIGIN (inside) to |x/a|^n + |y/b|^n + |z/c|^n = 1, by bisection."""
    lo, hi = np.zeros(len(d)), np.full(len(d), 1.0)
    for _ in range(48):
        mid = 0.5 * (lo + hi)
        q = np.abs((ORIGIN + mid[:, None] * d - center) / axes) ** power
        inside = q.sum(-1) < 1.0
        lo, hi = np.where(inside, mid, lo), np.where(inside, hi, mid)
    return 0.5 * (lo + hi)


def _ray_neck(d):
    ax, az, zc, y_bottom, y_top = 0.054, 0.058, -0.018, -0.245, 0.0
    ox, oz = ORIGIN[0] / ax, (ORIGIN[2] - zc) / az
    dx, dz = d[:, 0] / ax, d[:, 2] / az
    a = dx * dx + dz * dz
    b = ox * dx + oz * dz
    c = ox * ox + oz * oz - 1.0
    side = np.where(a > 1e-12, (-b + np.sqrt(np.maximum(b * b - a * c, 0))) / np.maximum(a, 1e-12), np.inf)
    dy = d[:, 1]
    with np.errstate(divide="ignore"):
        cap = np.where(dy < -1e-9, (y_bottom - ORIGIN[1]) / dy, np.where(dy > 1e-9, (y_top - ORIGIN[1]) / dy,
                                                                          np.inf))
    return np.minimum(side, cap)


def base_radius(d):
    """Length of the ray ORIGIN + r d to the base skin (smooth union of primitives)."""
    r = primitive_radii(d)
    k = 0.005
    m = r.max(0)
    return m + k * np.log(np.exp((r - m) / k).sum(0))


def primitive_radii(d):
    """(3,N) ray lengths to the cranium, the lower face and the neck."""
    return np.stack([
        _ray_superellipsoid(d, np.array([0.0, 0.018, -0.012]), np.array([0.077, 0.107, 0.097]), 2.35),
        _ray_ellipsoid(d, np.array([0.0, -0.042, 0.004]), np.array([0.057, 0.068, 0.080])),
        _ray_neck(d),
    ])


def _warped_samples(n, lo, hi, density, endpoint):
    """n samples in [lo, hi] spaced inversely to ``density`` (a function)."""
    t = np.linspace(lo, hi, 4001)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (density(t[1:]) + density(t[:-1])) * np.diff(t))])
    cdf /= cdf[-1]
    q = np.linspace(0.0, 1.0, n) if endpoint else np.arange(n) / n
    return np.interp(q, cdf, t)


def grid_angles():
    """Polar angles (N_ROWS,) from +y and azimuths (N_COLS,) from +z towards +x."""
    theta = _warped_samples(
        N_ROWS + 2, 0.0, np.pi, lambda t: 1.0 + 1.6 * np.exp(-(((t - 1.75) / 0.62) ** 2)), True)[1:-1]
    theta[np.argmin(np.abs(theta - MOUTH_THETA))] = MOUTH_THETA
    phi = _warped_samples(N_COLS, -np.pi, np.pi, lambda p: 1.0 + 2.2 * np.exp(-((p / 0.95) ** 2))
                          + 0.9 * np.exp(-(((np.abs(p) - 1.55) / 0.35) ** 2)), False)
    phi = 0.5 * (phi - phi[(-np.arange(N_COLS)) % N_COLS])  # mirror-symmetric, phi[N/2] = 0
    phi[0] = -np.pi
    return theta, phi


def directions(theta, phi):
    st = np.sin(theta)
    return np.stack([st * np.sin(phi), np.cos(theta), st * np.cos(phi)], -1)


# -- features -----------------------------------------------------------------------
def eye_opening_rho(x, y):
    """Normalized elliptic distance to the nearest eye-opening centre (< 1 inside)."""
    u = (np.abs(x) - EYE_CENTER_X) / EYE_OPENING[0]
    v = (y - EYE_CENTER_Y - 0.0012 * u) / EYE_OPENING[1]
    v = np.where(v > 0, v, v * 1.15)
    return np.sqrt(u * u + v * v)


def eye_center_z():
    return 0.0697 - EYE_RADIUS


def ear_coords(p):
    """Ear-local (s, t, rho): s from front (-1) to back (+1), t from bottom to top."""
    s = (EAR_CENTER[1] - p[:, 2]) / EAR_HALF[1]
    t = (p[:, 1] - EAR_CENTER[0]) / EAR_HALF[0]
    return s, t, np.sqrt(s * s + t * t)


def mouth_y():
    d = directions(np.array([MOUTH_THETA]), np.array([0.0]))
    return float((ORIGIN + base_radius(d)[:, None] * d)[0, 1])


def feature_displacement(p):
    """Displacement (N,3) that turns base skin points p (N,3) into the face."""
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    ax = np.abs(x)
    ym = mouth_y()
    front = smoothstep((z - 0.01) / 0.04)
    h = np.zeros(len(p))
    # nose: a ridge from the nasion to the tip, dropping sharply to the base
    tip_y, base_y, nasion_y = -0.018, -0.034, 0.030
    rise = np.clip((nasion_y - y) / (nasion_y - tip_y), 0.0, 1.0)
    below_tip = 0.025 * smoothstep((y - base_y) / (tip_y - base_y))
    height = np.where(y > tip_y, 0.005 + 0.020 * rise ** 1.5, below_tip)
    height *= smoothstep((0.045 - y) / 0.015)
    half_w = 0.0075 + 0.0065 * rise ** 2
    half_w = np.where(y < tip_y, 0.0145, half_w)
    cross = np.clip(1.0 - (x / half_w) ** 2, 0.0, 1.0) ** 1.4
    h += height * cross
    h += 0.010 * gauss(ax, y, 0.0135, -0.031, 0.0055, 0.0055)  # alae
    h -= 0.002 * gauss(ax, y, 0.022, -0.022, 0.004, 0.010)  # alar crease
    # eyes: broad socket, brow ridge, deep opening behind the eyeball
    h -= 0.009 * gauss(ax, y, EYE_CENTER_X, 0.027, 0.017, 0.013)
    h += 0.006 * gauss(ax, y, 0.030, 0.049, 0.022, 0.006)
    h -= 0.012 * smoothstep((1.1 - eye_opening_rho(x, y)) / 0.3)
    # cheeks, cheekbones, temples
    h += 0.007 * gauss(ax, y, 0.040, -0.020, 0.017, 0.017)
    h += 0.004 * gauss(ax, y, 0.050, 0.006, 0.012, 0.008)
    # mouth: lips, philtrum, corners, labiomental fold, chin
    lip_env = np.clip(1.0 - (x / 0.027) ** 2, 0.0, 1.0) ** 0.6
    h += 0.006 * lip_env * gauss(x, y, 0.0, ym + 0.0045, 1.0, 0.0042)
    h += 0.0065 * lip_env * gauss(x, y, 0.0, ym - 0.0055, 1.0, 0.0048)
    h -= 0.0015 * gauss(x, y, 0.0, ym + 0.013, 0.0035, 0.005)
    h += 0.0012 * gauss(ax, y, 0.0045, ym + 0.013, 0.0018, 0.005)
    h -= 0.004 * gauss(ax, y, 0.027, ym, 0.004, 0.005)
    h -= 0.004 * gauss(x, y, 0.0, ym - 0.016, 0.012, 0.004)
    h += 0.006 * gauss(x, y, 0.0, ym - 0.032, 0.013, 0.010)
    disp = np.zeros_like(p)
    disp[:, 2] = h * front
    # temples pull in a little
    disp[:, 0] -= np.sign(x) * 0.004 * gauss(ax, y, 0.064, 0.035, 0.02, 0.02) * smoothstep((z + 0.02) / 0.04)
    # ears: plates standing out from the side of the head, more at the back
    s, t, rho = ear_coords(p)
    side = smoothstep((ax - 0.045) / 0.02)
    outline = smoothstep((1.02 - rho) / 0.14)
    stand = 0.003 + 0.016 * smoothstep((s + 0.9) / 1.6) * (0.6 + 0.4 * smoothstep((t + 0.5) / 1.2))
    bowl = -0.009 * np.exp(-((s + 0.05) ** 2 / 0.12 + (t + 0.12) ** 2 / 0.15))
    rim = 0.003 * np.exp(-((rho - 0.85) ** 2) / 0.01)
    disp[:, 0] += np.sign(x) * side * outline * np.maximum(stand + bowl + rim, 0.0)
    return disp


# -- mesh assembly ----------------------------------------------------------------
def skin_mesh():
    """Skin vertices (V,3), faces (F,3), and per-vertex info dict.

    info: ``kind`` (V,) 0 skin / 1 mouth pocket; ``side`` (V,) +1 upper lip side,
    -1 lower lip side, 0 elsewhere (only meaningful near the mouth); ``pocket_ring``
    (V,) ring index for pocket vertices (0 on the lip edge, -1 elsewhere);
    ``mouth_y``."""
    theta, phi = grid_angles()
    tt, pp = np.meshgrid(theta, phi, indexing="ij")
    d = directions(tt.ravel(), pp.ravel())
    d = np.concatenate([d, [[0.0, 1.0, 0.0], [0.0, -1.0, 0.0]]])
    base = ORIGIN + base_radius(d)[:, None] * d
    verts = base + feature_displacement(base)
    n_grid = N_ROWS * N_COLS
    top, bottom = n_grid, n_grid + 1

    def vid(i, j):
        return i * N_COLS + (j % N_COLS)

    row_m = int(np.argmin(np.abs(theta - MOUTH_THETA)))
    xs = verts[vid(row_m, np.arange(N_COLS)), 0]
    inside = np.flatnonzero((np.abs(xs) < MOUTH_HALF_WIDTH) & (np.abs(phi) < 1.0))
    c0, c1 = int(inside.min()) - 1, int(inside.max()) + 1  # corners just outside the slit
    slit_cols = np.arange(c0 + 1, c1)
    lower_copy = {int(j): len(verts) + k for k, j in enumerate(slit_cols)}
    verts = np.concatenate([verts, verts[vid(row_m, slit_cols)]])

    faces = []
    for i in range(N_ROWS - 1):
        j = np.arange(N_COLS)
        a, b, c, dd = vid(i, j), vid(i, j + 1), vid(i + 1, j + 1), vid(i + 1, j)
        if i == row_m:
            a = np.array([lower_copy.get(int(jj), int(v)) for jj, v in zip(j, a)])
            b = np.array([lower_copy.get(int((jj + 1) % N_COLS), int(v)) for jj, v in zip(j, b)])
        faces += [np.stack([a, dd, b], 1), np.stack([b, dd, c], 1)]
    j = np.arange(N_COLS)
    faces.append(np.stack([np.full(N_COLS, top), vid(0, j), vid(0, j + 1)], 1))
    last = N_ROWS - 1
    faces.append(np.stack([np.full(N_COLS, bottom), vid(last, j + 1), vid(last, j)], 1))
    faces = np.concatenate(faces)

    # pocket: rings behind the slit loop (upper edge left->right, lower edge back)
    loop = [vid(row_m, jj) for jj in range(c0, c1 + 1)] + [lower_copy[int(jj)] for jj in slit_cols[::-1]]
    loop = np.array(loop)
    n_upper = c1 - c0 + 1
    loop_side = np.where(np.arange(len(loop)) < n_upper, 1.0, -1.0)
    lp = verts[loop]
    ym = float(verts[vid(row_m, (c0 + c1) // 2), 1])
    env = np.sqrt(np.clip(1.0 - (lp[:, 0] / (MOUTH_HALF_WIDTH + 0.004)) ** 2, 0.0, 1.0))
    rings = [loop]
    pocket = []
    for depth, height, narrow in zip(POCKET_DEPTH, POCKET_HEIGHT, POCKET_NARROW):
        ring = np.stack([lp[:, 0] * narrow, ym + loop_side * height * env, lp[:, 2] - depth], 1)
        rings.append(len(verts) + np.arange(len(loop)))
        verts = np.concatenate([verts, ring])
        pocket.append(ring)
    cap = len(verts)
    verts = np.concatenate([verts, [[0.0, ym, lp[:, 2].max() - POCKET_DEPTH[-1] - 0.006]]])
    n_loop = len(loop)
    k = np.arange(n_loop)
    for r0, r1 in zip(rings[:-1], rings[1:]):
        faces = np.concatenate([faces, np.stack([r0[k], r1[(k + 1) % n_loop], r0[(k + 1) % n_loop]], 1),
                                np.stack([r0[k], r1[k], r1[(k + 1) % n_loop]], 1)])
    faces = np.concatenate([faces, np.stack([rings[-1][(k + 1) % n_loop], rings[-1][k],
                                             np.full(n_loop, cap)], 1)])

    n = len(verts)
    kind = np.zeros(n, np.int8)
    n_skin = n_grid + 2 + len(slit_cols)
    kind[n_skin:] = 1
    side = np.where(verts[:, 1] >= ym, 1.0, -1.0)
    side[n_grid + 2: n_skin] = -1.0
    side[vid(row_m, np.arange(c0, c1 + 1))] = 1.0
    ring_id = np.full(n, -1)
    for r, idx in enumerate(rings):
        ring_id[idx] = r
        side[idx] = loop_side
    side[cap] = 0.0
    ring_id[cap] = len(rings)
    info = {"kind": kind, "side": side, "pocket_ring": ring_id, "mouth_y": ym, "lip_edge": ring_id == 0,
            "mouth_corners": (vid(row_m, c0), vid(row_m, c1)), "n_skin": n_skin}
    return verts, faces.astype(np.int64), info


def eyeball_mesh(center, n_rings=12, n_cols=18):
    """A UV sphere (radius EYE_RADIUS) with its pole looking along +z.

    Returns vertices, faces and the polar angle of every vertex from +z (for the iris)."""
    polar = np.linspace(0.0, np.pi, n_rings + 2)[1:-1]
    az = np.linspace(0.0, 2 * np.pi, n_cols, endpoint=False)
    pp, aa = np.meshgrid(polar, az, indexing="ij")
    ring = np.stack([np.sin(pp) * np.cos(aa), np.sin(pp) * np.sin(aa), np.cos(pp)], -1).reshape(-1, 3)
    unit = np.concatenate([ring, [[0.0, 0.0, 1.0], [0.0, 0.0, -1.0]]])
    front, back = len(ring), len(ring) + 1
    faces = []
    j = np.arange(n_cols)
    for i in range(n_rings - 1):
        a, b = i * n_cols + j, i * n_cols + (j + 1) % n_cols
        c, d = (i + 1) * n_cols + (j + 1) % n_cols, (i + 1) * n_cols + j
        faces += [np.stack([a, d, b], 1), np.stack([b, d, c], 1)]
    faces.append(np.stack([np.full(n_cols, front), j, (j + 1) % n_cols], 1))
    last = (n_rings - 1) * n_cols
    faces.append(np.stack([np.full(n_cols, back), last + (j + 1) % n_cols, last + j], 1))
    faces = np.concatenate(faces)
    polar_all = np.arccos(np.clip(unit[:, 2], -1.0, 1.0))
    return center + EYE_RADIUS * unit, faces, polar_all


def eye_centers():
    z = eye_center_z()
    return np.array([[EYE_CENTER_X, EYE_CENTER_Y, z], [-EYE_CENTER_X, EYE_CENTER_Y, z]])
