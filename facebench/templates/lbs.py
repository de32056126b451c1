"""Linear blend skinning shared by every template, in numpy and in torch.

The deformation model (the same for facebench-head and FLAME)::

    v_shaped = V_c + identity_basis @ identity + expression_basis @ expression
    J        = joint_regressor @ v_shaped                      (J joints)
    v_posed  = v_shaped + posedirs @ (R_j - I for joints 1..J-1)  (FLAME only)
    v_local  = sum_j w_j G_j v_posed                           (skinning)
    world    = scale * R(rotation) @ v_local + translation

Joint order is [root, neck, jaw, left eye, right eye] (FLAME's pose order); the
root joint stays fixed (global rotation is the rigid ``rotation`` applied about
the canonical origin afterwards, exactly as in NeRSemble's tracking:
``world = s R x + t``).  Arrays carry a leading frame axis ``T`` throughout.
"""

from __future__ import annotations

import numpy as np


def rodrigues(axis_angle: np.ndarray) -> np.ndarray:
    """Axis-angle (..., 3) -> rotation matrices (..., 3, 3)."""
    aa = np.asarray(axis_angle, dtype=np.float64)
    theta = np.linalg.norm(aa, axis=-1)[..., None, None]
    k = _skew(aa)
    small = theta < 1e-8
    safe = np.where(small, 1.0, theta)
    a = np.where(small, 1.0 - theta**2 / 6.0, np.sin(safe) / safe)
    b = np.where(small, 0.5 - theta**2 / 24.0, (1.0 - np.cos(safe)) / safe**2)
    return np.eye(3) + a * k + b * (k @ k)


def _skew(v):
    zero = np.zeros(v.shape[:-1])
    return np.stack(
        [
            np.stack([zero, -v[..., 2], v[..., 1]], -1),
            np.stack([v[..., 2], zero, -v[..., 0]], -1),
            np.stack([-v[..., 1], v[..., 0], zero], -1),
        ],
        -2,
    )


def skin(v_shaped, joint_pose, joint_regressor, parents, lbs_weights, posedirs=None):
    """Pose shaped vertices with LBS.

    v_shaped (T,V,3); joint_pose (T,J,3) axis-angle per joint (joint 0 = root);
    joint_regressor (J,V); parents (J,) with parents[0] = -1; lbs_weights (V,J);
    posedirs (V,3,9*(J-1)) or None.  Returns (T,V,3).
    """
    n_frames, n_verts, _ = v_shaped.shape
    rot = rodrigues(joint_pose)  # (T,J,3,3)
    joints = np.matmul(joint_regressor, v_shaped)  # (T,J,3)
    if posedirs is not None:
        feature = (rot[:, 1:] - np.eye(3)).reshape(n_frames, -1)
        v_shaped = v_shaped + (feature @ posedirs.reshape(n_verts * 3, -1).T).reshape(n_frames, n_verts, 3)
    g_r, g_t = _chain(rot, joints, parents, np)
    blend = lbs_weights @ np.concatenate([g_r.reshape(n_frames, -1, 9), g_t], -1)  # (T,V,12)
    r = blend[..., :9].reshape(n_frames, n_verts, 3, 3)
    return np.einsum("tvab,tvb->tva", r, v_shaped) + blend[..., 9:]


def _chain(rot, joints, parents, xp):
    """Global rotations (T,J,3,3) and translations (T,J,3) of the rest-to-posed transforms
    x -> G_r (x - J_rest) + G_t along the kinematic chain."""
    glob_r = [rot[:, 0]]
    glob_t = [joints[:, 0]]
    for j in range(1, len(parents)):
        p = int(parents[j])
        rel = joints[:, j] - joints[:, p]
        glob_t.append(glob_t[p] + (glob_r[p] @ rel[..., None])[..., 0])
        glob_r.append(glob_r[p] @ rot[:, j])
    g_r = xp.stack(glob_r, 1)
    g_t = xp.stack(glob_t, 1) - (g_r @ joints[..., None])[..., 0]
    return g_r, g_t


def rodrigues_torch(axis_angle):
    """Axis-angle (..., 3) -> (..., 3, 3), differentiable also at zero rotation."""
    import torch

    theta2 = (axis_angle * axis_angle).sum(-1)[..., None, None]
    small = theta2 < 1e-12
    theta = torch.sqrt(torch.where(small, torch.ones_like(theta2), theta2))
    a = torch.where(small, 1.0 - theta2 / 6.0, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24.0, (1.0 - torch.cos(theta)) / (theta * theta))
    x, y, z = axis_angle.unbind(-1)
    zero = torch.zeros_like(x)
    k = torch.stack(
        [torch.stack([zero, -z, y], -1), torch.stack([z, zero, -x], -1), torch.stack([-y, x, zero], -1)],
        -2,
    )
    eye = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device)
    return eye + a * k + b * (k @ k)


def skin_torch(v_shaped, joint_pose, joint_regressor, parents, lbs_weights, posedirs_flat=None):
    """Torch twin of :func:`skin`; ``posedirs_flat`` is posedirs as (9*(J-1), V*3)."""
    import torch

    n_frames, n_verts, _ = v_shaped.shape
    rot = rodrigues_torch(joint_pose)
    joints = torch.matmul(joint_regressor, v_shaped)
    if posedirs_flat is not None:
        eye = torch.eye(3, dtype=rot.dtype, device=rot.device)
        feature = (rot[:, 1:] - eye).reshape(n_frames, -1)
        v_shaped = v_shaped + (feature @ posedirs_flat).reshape(n_frames, n_verts, 3)
    g_r, g_t = _chain(rot, joints, parents, torch)
    blend = lbs_weights @ torch.cat([g_r.reshape(n_frames, -1, 9), g_t], -1)  # (T,V,12)
    r = blend[..., :9].reshape(n_frames, n_verts, 3, 3)
    return (r * v_shaped[:, :, None, :]).sum(-1) + blend[..., 9:]
