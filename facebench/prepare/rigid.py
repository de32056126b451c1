"""Coarse rigid alignment of a template to a foreground cloud, without landmarks.

The head is found from the capture rig: the template's forward axis is turned
towards the frontal camera and its up axis along that camera's "up" (-y in
OpenCV), its centroid on the cloud's; then trimmed ICP runs from several
yaw/pitch hypotheses around that guess and the start that explains the cloud
best wins.  Later frames start from the previous frame's pose.

Poses here are (R (3,3), t (3,)) with ``x_world = s * R @ x_template + t``.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

FRONTAL_SERIAL = "222200037"


def rotation_about(axis: np.ndarray, angle: float) -> np.ndarray:
    """(3,3) rotation by ``angle`` radians about the unit vector ``axis`` (Rodrigues)."""
    a = np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def frame_from_rig(cameras, serials, forward_template=(0.0, 0.0, 1.0), up_template=(0.0, 1.0, 0.0)):
    """(3,3) rotation taking the template's forward/up axes to the rig's frontal direction.

    The frontal camera is ``222200037`` when present, else the camera whose
    optical axis is closest to the rig's mean axis.  The face looks at it, so
    the template's forward axis maps to minus that camera's optical axis.
    """
    axes = np.array([np.asarray(c.T_cam_from_world)[2, :3] for c in cameras])
    if FRONTAL_SERIAL in list(serials):
        i = list(serials).index(FRONTAL_SERIAL)
    else:
        mean_axis = axes.mean(axis=0)
        i = int(np.argmax(axes @ mean_axis))
    R_cam = np.asarray(cameras[i].T_cam_from_world)[:3, :3]
    forward_world = -R_cam[2]
    up_world = -R_cam[1]
    up_world = up_world - forward_world * (up_world @ forward_world)
    world = np.stack([forward_world, up_world / np.linalg.norm(up_world),
                      np.cross(forward_world, up_world / np.linalg.norm(up_world))], axis=1)
    f, u = np.asarray(forward_template, float), np.asarray(up_template, float)
    tmpl = np.stack([f, u, np.cross(f, u)], axis=1)
    return world @ tmpl.T


def kabsch(src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None):
    """Rigid (R, t) minimising sum w |R src + t - dst|^2."""
    w = np.ones(len(src)) if weights is None else weights
    w = w / w.sum()
    mu_s, mu_d = w @ src, w @ dst
    H = (src - mu_s).T @ ((dst - mu_d) * w[:, None])
    U, _, Vt = np.linalg.svd(H)
    D = np.diag([1.0, 1.0, np.sign(np.linalg.det(Vt.T @ U.T))])
    R = Vt.T @ D @ U.T
    return R, mu_d - R @ mu_s


def trimmed_icp(points: np.ndarray, tree: cKDTree, R: np.ndarray, t: np.ndarray,
                iterations: int = 20, keep: float = 0.7, scale: float = 1.0):
    """Point-to-point ICP of template ``points`` onto the cloud's ``tree``; returns (R, t, cost).

    Each iteration keeps the ``keep`` fraction of closest pairs (the template
    has regions the cameras never see).  ``cost`` is the mean kept distance.
    """
    cost = np.inf
    for _ in range(iterations):
        moved = scale * points @ R.T + t
        dist, idx = tree.query(moved)
        cut = np.quantile(dist, keep)
        sel = dist <= cut
        cost = float(dist[sel].mean())
        R_d, t_d = kabsch(moved[sel], tree.data[idx[sel]])
        R, t = R_d @ R, R_d @ t + t_d
    return R, t, cost


def coverage_cost(points_world: np.ndarray, cloud_tree: cKDTree, cloud_sample: np.ndarray,
                  cap: float) -> float:
    """Symmetric capped distance: how well the posed template and the cloud explain each other."""
    d_tc = np.minimum(cloud_tree.query(points_world)[0], cap)
    d_ct = np.minimum(cKDTree(points_world).query(cloud_sample)[0], cap)
    return float(np.quantile(d_tc, 0.7) + d_ct.mean())


def align_first_frame(template_points: np.ndarray, cloud_xyz: np.ndarray, R0: np.ndarray,
                      yaws_deg=(-30, 0, 30), pitches_deg=(-20, 0, 20), iterations: int = 20,
                      cap: float = 0.02, seed: int = 0):
    """Multi-start trimmed ICP; returns (R, t, cost) of the best start.

    ``template_points`` (N,3) in template space (a region subsample),
    ``R0`` the rig-derived guess from :func:`frame_from_rig`.
    """
    rng = np.random.default_rng(seed)
    tree = cKDTree(cloud_xyz)
    sample = cloud_xyz[rng.choice(len(cloud_xyz), size=min(2000, len(cloud_xyz)), replace=False)]
    up_world = R0 @ np.array([0.0, 1.0, 0.0])
    side_world = R0 @ np.array([1.0, 0.0, 0.0])
    best = (R0, np.zeros(3), np.inf)
    for yaw in yaws_deg:
        for pitch in pitches_deg:
            R = rotation_about(side_world, np.deg2rad(pitch)) @ rotation_about(up_world, np.deg2rad(yaw)) @ R0
            t = cloud_xyz.mean(axis=0) - R @ template_points.mean(axis=0)
            R, t, _ = trimmed_icp(template_points, tree, R, t, iterations)
            cost = coverage_cost(template_points @ R.T + t, tree, sample, cap)
            if cost < best[2]:
                best = (R, t, cost)
    return best


def track_rigid(template_points: np.ndarray, clouds, R: np.ndarray, t: np.ndarray, iterations: int = 10):
    """Per-frame poses (T,3,3), (T,3): each frame's ICP starts from the previous frame's pose."""
    Rs, ts = [], []
    for xyz in clouds:
        R, t, _ = trimmed_icp(template_points, cKDTree(xyz), R, t, iterations)
        Rs.append(R)
        ts.append(t)
    return np.stack(Rs), np.stack(ts)


def matrix_to_axis_angle(R: np.ndarray) -> np.ndarray:
    """(...,3,3) rotations to (...,3) axis-angle vectors."""
    from scipy.spatial.transform import Rotation

    return Rotation.from_matrix(np.asarray(R).reshape(-1, 3, 3)).as_rotvec().reshape(*np.shape(R)[:-2], 3)
