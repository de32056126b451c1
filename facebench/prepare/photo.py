"""Photometric consistency over time: skin texture moves with the surface (against tangential drift).

Depth pins the fitted surface along its normal, but not along it: a template whose
expression space does not match the subject slides over the skin from frame to frame,
and the canonical maps drift with it.  The skin's texture does not slide.  This term
compares, in every camera, the (blurred, grey) image at a face vertex's projection in
frame t with the image at the same vertex's projection in frame t + 1, wherever the
vertex is visible in both (facing the camera, in front of the observed depth); the
fit's residual stage then moves vertices *tangentially* (smooth in space, small) so
that each one keeps looking at the same skin.

Used by :func:`facebench.prepare.fit.fit_sequence` when ``FitConfig.w_photo > 0``.
"""

from __future__ import annotations

import numpy as np


class PhotoTerm:
    """Temporal photometric residuals of sampled face vertices in every camera.

    images: list per camera of (T,H,W,3) uint8; depths: list per camera of (T,H,W)
    metres (NaN invalid) or None; cameras: ``facebench.geometry.Camera`` per camera;
    vertex_ids: template vertices to use; blur_px: Gaussian blur of the grey images
    (a wider basin for the gradient)."""

    def __init__(self, images, depths, cameras, vertex_ids, blur_px: float = 1.0, device="cpu",
                 depth_tol: float = 0.004):
        import torch
        from scipy.ndimage import gaussian_filter

        self.torch = torch
        self.ids = np.asarray(vertex_ids, dtype=np.int64)
        self.cameras = list(cameras)
        self.depths = depths
        self.depth_tol = depth_tol
        grey = []
        for stack in images:
            g = np.asarray(stack, np.float32) @ np.array([0.299, 0.587, 0.114], np.float32) / 255.0
            grey.append(gaussian_filter(g, sigma=(0, blur_px, blur_px)) if blur_px > 0 else g)
        g = np.stack(grey)  # (C,T,H,W)
        self.C, self.T, self.H, self.W = g.shape
        self.images = torch.as_tensor(g, device=device).reshape(self.C * self.T, 1, self.H, self.W)
        self.K = torch.as_tensor(np.stack([c.K for c in cameras]), dtype=torch.float32, device=device)
        T_cw = np.stack([c.T_cam_from_world for c in cameras])
        self.R = torch.as_tensor(T_cw[:, :3, :3], dtype=torch.float32, device=device)
        self.t = torch.as_tensor(T_cw[:, :3, 3], dtype=torch.float32, device=device)
        self.pair_weight = None

    def _project(self, v):
        """v (T,S,3) world -> uv (C,T,S,2) pixels, z (C,T,S)."""
        cam = self.torch.einsum("cij,tsj->ctsi", self.R, v) + self.t[:, None, None, :]
        z = cam[..., 2]
        uv = self.torch.einsum("cij,ctsj->ctsi", self.K, cam)
        return uv[..., :2] / uv[..., 2:].clamp_min(1e-6), z

    def update_visibility(self, vertices: np.ndarray, normals: np.ndarray) -> None:
        """Which (camera, frame, vertex) are seen: facing the camera, inside, at the observed depth."""
        torch = self.torch
        v = torch.as_tensor(vertices[:, self.ids], dtype=torch.float32)
        n = np.asarray(normals)[:, self.ids]
        with torch.no_grad():
            uv, z = self._project(v)
        uv, z = uv.cpu().numpy(), z.cpu().numpy()
        vis = np.zeros((self.C, self.T, len(self.ids)), bool)
        for c, cam in enumerate(self.cameras):
            centre = cam.center_world
            for t in range(self.T):
                view = vertices[t, self.ids] - centre
                facing = np.einsum("sj,sj->s", n[t], view) < -0.3 * np.linalg.norm(view, axis=1)
                col, row = np.round(uv[c, t, :, 0]), np.round(uv[c, t, :, 1])
                inside = (col >= 1) & (col < self.W - 1) & (row >= 1) & (row < self.H - 1) & (z[c, t] > 0)
                ok = facing & inside
                if self.depths is not None and self.depths[c] is not None:
                    ci, ri = np.where(ok, col, 0).astype(int), np.where(ok, row, 0).astype(int)
                    d = self.depths[c][t][ri, ci]
                    ok &= np.isfinite(d) & (np.abs(d - z[c, t]) < self.depth_tol)
                vis[c, t] = ok
        both = vis[:, :-1] & vis[:, 1:]  # (C,T-1,S)
        self.pair_weight = torch.as_tensor(both, dtype=torch.float32)

    def loss(self, v_full, eps: float = 0.01):
        """Mean Charbonnier difference of the grey value at each visible vertex between frames t, t+1."""
        torch = self.torch
        if self.T < 2 or self.pair_weight is None:
            return v_full.sum() * 0.0
        uv, _ = self._project(v_full[:, self.ids])
        grid = torch.stack([2 * uv[..., 0] / (self.W - 1) - 1, 2 * uv[..., 1] / (self.H - 1) - 1], -1)
        grid = grid.reshape(self.C * self.T, 1, -1, 2)
        values = torch.nn.functional.grid_sample(self.images, grid, mode="bilinear", padding_mode="border",
                                                 align_corners=True).reshape(self.C, self.T, -1)
        diff = values[:, 1:] - values[:, :-1]
        rho = torch.sqrt(diff * diff + eps * eps) - eps
        w = self.pair_weight
        return (rho * w).sum() / w.sum().clamp_min(1.0)
