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


def _small_rotation(w: np.ndarray) -> np.ndarray:
    return rotation_about(w, np.linalg.norm(w)) if np.linalg.norm(w) > 1e-12 else np.eye(3)


def icp_point_to_plane(points: np.ndarray, normals: np.ndarray, cloud, R: np.ndarray, t: np.ndarray,
                       iterations: int = 30, keep: float = 0.7, min_normal_dot: float = 0.3):
    """Trimmed point-to-plane ICP of template ``points``/``normals`` onto ``cloud`` (a PointCloud).

    Each iteration matches every posed template point to its nearest cloud point,
    keeps normal-compatible pairs within the ``keep`` quantile of distance (the
    template has regions the cameras never see, the cloud has hair and torso),
    and solves the linearised 6-dof least squares.  Returns (R, t, cost): cost is
    the mean |point-to-plane| distance of the kept pairs.
    """
    tree = cloud.tree
    cost = np.inf
    for _ in range(iterations):
        moved = points @ R.T + t
        dist, idx = tree.query(moved)
        q, n = cloud.xyz_world[idx], cloud.normals_world[idx]
        ok = np.sum((normals @ R.T) * n, axis=1) >= min_normal_dot
        if ok.sum() < 10:
            break
        ok &= dist <= np.quantile(dist[ok], keep)
        p_, q_, n_ = moved[ok], q[ok], n[ok]
        r = np.sum((q_ - p_) * n_, axis=1)
        cost = float(np.abs(r).mean())
        A = np.concatenate([np.cross(p_ - p_.mean(0), n_), n_], axis=1)
        x = np.linalg.lstsq(A, r, rcond=None)[0]
        dR = _small_rotation(x[:3])
        c = p_.mean(0)
        R, t = dR @ R, dR @ (t - c) + c + x[3:]
        if np.linalg.norm(x) < 1e-5:  # 10 micro-radians / micrometres: converged
            break
    return R, t, cost


def face_cost(points: np.ndarray, normals: np.ndarray, cloud, R, t, cap: float = 0.01,
              min_normal_dot: float = 0.3) -> float:
    """Mean capped distance from the posed template points to the cloud (unmatched count as ``cap``)."""
    tree = cloud.tree
    dist, idx = tree.query(points @ R.T + t)
    ok = np.sum((normals @ R.T) * cloud.normals_world[idx], axis=1) >= min_normal_dot
    return float(np.where(ok, np.minimum(dist, cap), cap).mean())


def align_first_frame(points: np.ndarray, normals: np.ndarray, cloud, R0: np.ndarray,
                      yaws_deg=(-30, 0, 30), pitches_deg=(-20, 0, 20), iterations: int = 30,
                      anchor: np.ndarray | None = None):
    """Multi-start ICP; returns (R, t, cost) of the start whose result explains the face best.

    ``points``/``normals`` (N,3) in template space (face and ears), ``R0`` the
    rig-derived guess from :func:`frame_from_rig`.  Each start puts ``anchor`` (a
    template-space point, default the centroid of ``points``; best the centroid of
    the head's camera-facing half) at the centroid of the cloud's upper part (the
    head, not the torso).
    """
    anchor = points.mean(axis=0) if anchor is None else np.asarray(anchor, float)
    up_world = R0 @ np.array([0.0, 1.0, 0.0])
    side_world = R0 @ np.array([1.0, 0.0, 0.0])
    step = max(1, len(points) // 600)  # the starts only need a coarse pose: fewer points
    points, normals = points[::step], normals[::step]
    xyz = cloud.xyz_world
    height = xyz @ up_world
    head = xyz[height >= np.quantile(height, 0.4)]
    best = (R0, np.zeros(3), np.inf)
    for yaw in yaws_deg:
        for pitch in pitches_deg:
            R = rotation_about(side_world, np.deg2rad(pitch)) @ rotation_about(up_world, np.deg2rad(yaw)) @ R0
            t = head.mean(axis=0) - R @ anchor
            # every start runs to convergence: ranking half-converged starts picked wrong pitches
            R, t, _ = icp_point_to_plane(points, normals, cloud, R, t, iterations, keep=0.6)
            R, t, _ = icp_point_to_plane(points, normals, cloud, R, t, iterations, keep=0.9)
            cost = face_cost(points, normals, cloud, R, t)
            if cost < best[2]:
                best = (R, t, cost)
    return best


def track_rigid(points: np.ndarray, normals: np.ndarray, clouds, R: np.ndarray, t: np.ndarray,
                iterations: int = 15):
    """Per-frame poses (T,3,3), (T,3): each frame's ICP starts from the previous frame's pose."""
    Rs, ts = [], []
    for cloud in clouds:
        R, t, _ = icp_point_to_plane(points, normals, cloud, R, t, iterations, keep=0.9)
        Rs.append(R)
        ts.append(t)
    return np.stack(Rs), np.stack(ts)


def matrix_to_axis_angle(R: np.ndarray) -> np.ndarray:
    """(...,3,3) rotations to (...,3) axis-angle vectors."""
    from scipy.spatial.transform import Rotation

    return Rotation.from_matrix(np.asarray(R).reshape(-1, 3, 3)).as_rotvec().reshape(*np.shape(R)[:-2], 3)
