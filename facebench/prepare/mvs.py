"""Dense multi-view stereo for calibrated frames (images-only captures: the public NeRSemble release).

Per reference camera, a coarse-to-fine **plane sweep** (torch; CPU or CUDA):

1. **Neighbours**: the ``neighbours`` cameras whose viewing directions onto the
   subject are closest to the reference's (between ``min_angle_deg`` and
   ``max_angle_deg``).
2. **Sweep**: depth hypotheses along every reference pixel's ray, uniform in inverse
   depth.  At the coarsest pyramid level they span ``[near, far]`` (from the
   subject's position: triangulated landmarks, else the rig's focus) with one step
   per pixel of disparity; at each finer level they are ``refine_steps`` steps on
   either side of the upsampled estimate, half a pixel of disparity apart.  Optional
   per-pixel prior depths (a coarse template fit) replace the coarse sweep where given.
   For each hypothesis every neighbour image is sampled at the projected position
   (bilinear) and compared with the reference over a ``window`` by zero-mean normalised
   cross-correlation (ZNCC: invariant to the gain and offset between cameras); the
   ``best_of`` best neighbours are averaged (one occluded neighbour does not vote).
3. **Estimate**: the best hypothesis, refined to sub-step precision by a parabola
   through its cost and its two neighbours'; its ZNCC is the pixel's confidence.

Then :func:`consistency_filter` (:mod:`facebench.prepare.mvs_consistency`) keeps a pixel only where at least
``min_consistent`` other views agree with its depth geometrically (projected into a
view, that view's depth sends it back within ``reproject_px`` pixels and
``depth_rel`` relative depth) and averages the agreeing depths (the fused estimate
is steadier than any single view's).  The result is depth maps with NaN where the
stereo is unreliable, ready for :func:`facebench.prepare.pointcloud.fuse_views`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class StereoConfig:
    """Knobs of :func:`stereo_frame` and :func:`consistency_filter` (lengths in metres)."""

    neighbours: int = 3
    best_of: int = 2
    min_angle_deg: float = 3.0
    max_angle_deg: float = 45.0
    levels: int = 4  # pyramid levels; the coarsest is 2**(levels-1) times smaller
    window: int = 7  # ZNCC window (pixels, odd) at every level
    coarse_step_px: float = 1.0  # disparity between hypotheses of the coarse sweep
    max_hypotheses: int = 192
    refine_steps: int = 4  # hypotheses on either side of the estimate at intermediate levels
    final_steps: int = 2  # ... and at the full-resolution level
    refine_step_px: float = 0.5
    depth_radius: float = 0.25  # metres around the subject's centre swept at the coarsest level
    prior_radius: float = 0.02  # metres around prior depths (coarse fit) where given
    min_ncc: float = 0.4  # confidence below which a pixel has no depth
    min_consistent: int = 2  # other views that must agree (geometric consistency)
    reproject_px: float = 1.0
    depth_rel: float = 0.004
    chunk: int = 8  # hypotheses per batch (memory)
    device: str = "auto"  # auto | cpu | cuda
    threads: int = 1  # torch intra-op threads on the CPU (0: torch's default, all cores)


@dataclass
class ViewDepth:
    """One camera's stereo result: ``depth`` (H,W) float32 metres NaN invalid, ``confidence`` (H,W)
    float32 ZNCC in [-1, 1] (NaN outside the mask), ``neighbours`` the camera indices used."""

    depth: np.ndarray
    confidence: np.ndarray
    neighbours: list


def _torch():
    import torch

    return torch


def resolve_device(device: str):
    """A torch device from ``auto`` (CUDA when present), ``cpu``, ``cuda`` or ``cuda:N``."""
    from facebench.errors import FacebenchError

    torch = _torch()
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not (device == "cpu" or device == "cuda" or (device.startswith("cuda:") and device[5:].isdigit())):
        raise FacebenchError(f"device must be auto, cpu, cuda or cuda:N, got {device!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise FacebenchError(f"device {device!r} was asked for but torch sees no CUDA device")
    return torch.device(device)


def select_neighbours(cameras, center_world, config: StereoConfig) -> list[list[int]]:
    """Per camera, indices of its stereo partners: closest viewing directions onto ``center_world``."""
    centre = np.asarray(center_world, float)
    dirs = np.array([c.center_world - centre for c in cameras])
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    angle = np.degrees(np.arccos(np.clip(dirs @ dirs.T, -1, 1)))
    out = []
    for i in range(len(cameras)):
        order = [j for j in np.argsort(angle[i])
                 if j != i and config.min_angle_deg <= angle[i, j] <= config.max_angle_deg]
        out.append([int(j) for j in order[: config.neighbours]])
    return out


def grey(image: np.ndarray) -> np.ndarray:
    """(H,W,3) uint8 -> (H,W) float32 luminance in [0, 1]."""
    return (np.asarray(image, np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)) / 255.0


def _pyramid(images, masks, cameras, levels: int, device):
    """Per level (coarsest first): (greys (C,1,H,W) list, masks list, cameras list)."""
    torch = _torch()
    import torch.nn.functional as F

    out = []
    for level in range(levels):
        f = 2 ** level
        gs, ms, cs = [], [], []
        for img, m, cam in zip(images, masks, cameras):
            w, h = max(8, round(cam.width / f)), max(8, round(cam.height / f))
            g = grey(img)
            g = torch.as_tensor(g - np.float32(g.mean()), device=device)[None, None]  # centred (see _box)
            mk = torch.as_tensor(np.asarray(m, np.float32), device=device)[None, None]
            if f > 1:
                g = F.interpolate(g, size=(h, w), mode="area")
                mk = (F.interpolate(mk, size=(h, w), mode="area") > 0).float()
            gs.append(g)
            ms.append(mk[0, 0] > 0)
            cs.append(cam if f == 1 else cam.rescaled(w, h))
        out.append((gs, ms, cs))
    return out[::-1]


def _box(x, window: int):
    """Mean over a ``window`` x ``window`` box (zeros beyond the borders) of (...,H,W), by running
    sums along each axis (3-4x faster than ``avg_pool2d`` on the CPU; inputs are centred on 0 so
    that float32 sums stay exact to ~1e-6)."""
    import torch.nn.functional as F

    r = window // 2
    c = F.pad(x, (r + 1, r, 0, 0)).cumsum(-1)
    x = c[..., window:] - c[..., :-window]
    c = F.pad(x, (0, 0, r + 1, r)).cumsum(-2)
    return (c[..., window:, :] - c[..., :-window, :]) * (1.0 / (window * window))


class _Sweep:
    """ZNCC cost of depth hypotheses for one reference view (crop) against its neighbours."""

    def __init__(self, ref_grey, ref_cam, crop, nb_greys, nb_cams, config: StereoConfig):
        torch = _torch()
        self.cfg = config
        x0, y0, x1, y1 = crop
        device = ref_grey.device
        self.I = ref_grey[:, :, y0:y1, x0:x1]
        w = config.window
        self.mu = _box(self.I, w)
        self.sigma = (_box(self.I * self.I, w) - self.mu ** 2).clamp_min(0).sqrt()
        v, u = torch.meshgrid(torch.arange(y0, y1, device=device, dtype=torch.float64),
                              torch.arange(x0, x1, device=device, dtype=torch.float64), indexing="ij")
        pix = torch.stack([u, v, torch.ones_like(u)])  # (3,h,w)
        self.rays = torch.einsum("ab,bhw->ahw", torch.as_tensor(ref_cam.K_inv, device=device), pix)
        self.nb = []
        T_ref_inv = np.linalg.inv(ref_cam.T_cam_from_world)
        for g, cam in zip(nb_greys, nb_cams):
            T = cam.T_cam_from_world @ T_ref_inv  # nb <- ref
            KR = torch.as_tensor(cam.K @ T[:3, :3], device=device)
            A = torch.einsum("ab,bhw->ahw", KR, self.rays).float()  # (3,h,w): direction term
            b = torch.as_tensor(cam.K @ T[:3, 3], device=device).float()
            self.nb.append((g, A, b, cam.width, cam.height))

    def cost(self, depth):
        """``depth`` (B,h,w) hypotheses -> (B,h,w) aggregated ZNCC (-1 where no neighbour sees it)."""
        torch = _torch()
        import torch.nn.functional as F

        B = depth.shape[0]
        w = self.cfg.window
        scores = []
        for g, A, b, W, H in self.nb:
            q = A[None] * depth[:, None] + b[None, :, None, None]  # (B,3,h,w)
            z = q[:, 2]
            ok = z > 1e-6
            zs = torch.where(ok, z, torch.ones_like(z))
            gx = q[:, 0] / zs * (2.0 / (W - 1)) - 1.0
            gy = q[:, 1] / zs * (2.0 / (H - 1)) - 1.0
            ok &= (gx.abs() <= 1) & (gy.abs() <= 1)
            J = F.grid_sample(g.expand(B, -1, -1, -1), torch.stack([gx, gy], -1), mode="bilinear",
                              padding_mode="border", align_corners=True)
            mj = _box(J, w)
            sj = (_box(J * J, w) - mj ** 2).clamp_min(0).sqrt()
            ncc = (_box(self.I * J, w) - self.mu * mj) / (self.sigma * sj + 1e-4)
            scores.append(torch.where(ok, ncc[:, 0], torch.full_like(ncc[:, 0], -1.0)))
        return _mean_of_best(scores, self.cfg.best_of)


def _mean_of_best(scores: list, k: int):
    """Mean of the ``k`` largest of the (B,h,w) tensors ``scores``, elementwise (topk is slow here)."""
    torch = _torch()
    k = min(k, len(scores))
    if k == len(scores):
        return sum(scores) / k
    if k == len(scores) - 1:  # all but the worst
        return (sum(scores) - torch.stack(scores).amin(0)) / k
    s = torch.stack(scores)
    total = torch.zeros_like(s[0])
    for _ in range(k):
        best, idx = s.max(0)
        total += best
        s.scatter_(0, idx[None], -2.0)
    return total / k


def _best(costs, invd, step):
    """Argmax over hypotheses with parabolic refinement: (inverse depth (h,w), confidence (h,w))."""
    torch = _torch()
    n = costs.shape[0]
    idx = costs.argmax(0)
    conf = costs.gather(0, idx[None])[0]
    lo = costs.gather(0, (idx - 1).clamp_min(0)[None])[0]
    hi = costs.gather(0, (idx + 1).clamp_max(n - 1)[None])[0]
    denom = lo - 2 * conf + hi
    off = torch.where(denom < -1e-6, 0.5 * (lo - hi) / denom, torch.zeros_like(denom)).clamp(-0.5, 0.5)
    interior = (idx > 0) & (idx < n - 1)
    off = torch.where(interior, off, torch.zeros_like(off))
    best = invd.gather(0, idx[None])[0] + off * step
    return best, conf


def _crop_of(mask, margin: int):
    torch = _torch()
    ys, xs = torch.nonzero(mask, as_tuple=True)
    if len(ys) == 0:
        return None
    H, W = mask.shape
    return (max(0, int(xs.min()) - margin), max(0, int(ys.min()) - margin),
            min(W, int(xs.max()) + 1 + margin), min(H, int(ys.max()) + 1 + margin))


def _disparity_per_invdepth(ref_cam, nb_cams, depth: float) -> float:
    """Pixels of disparity per unit of inverse depth at the image centre (widest neighbour)."""
    c = np.array([(ref_cam.width - 1) / 2, (ref_cam.height - 1) / 2])
    ray = ref_cam.unproject(c, 1.0)
    best = 1e-9
    for cam in nb_cams:
        p = [cam.project_world(ref_cam.cam_to_world(ray * d))[0] for d in (depth * 0.99, depth * 1.01)]
        dinv = 1 / (depth * 0.99) - 1 / (depth * 1.01)
        best = max(best, float(np.linalg.norm(p[0] - p[1])) / dinv)
    return best


def stereo_frame(cameras, images, masks, center_world, config: StereoConfig = StereoConfig(),
                 prior_depths=None) -> list[ViewDepth]:
    """Depth and confidence for every camera of one frame (see the module docstring).

    cameras: ``facebench.geometry.Camera`` per view (same size as its image); images (H,W,3) uint8
    (colour-corrected); masks (H,W) bool foreground; center_world (3,) the subject's centre;
    prior_depths: optional per view (H,W) float metres (NaN: none) around which to search.
    Returns one :class:`ViewDepth` per camera (depth not yet filtered for consistency).
    """
    torch = _torch()
    device = resolve_device(config.device)
    threads = torch.get_num_threads()
    if config.threads and device.type == "cpu":
        torch.set_num_threads(int(config.threads))
    neighbours = select_neighbours(cameras, center_world, config)
    try:
        with torch.no_grad():
            pyr = _pyramid(images, masks, cameras, config.levels, device)
            out = []
            for i in range(len(cameras)):
                out.append(_stereo_view(i, pyr, neighbours[i], center_world, config, device,
                                        None if prior_depths is None else prior_depths[i]))
    finally:
        torch.set_num_threads(threads)
    return out


def _stereo_view(i, pyr, nbs, center_world, config: StereoConfig, device, prior) -> ViewDepth:
    torch = _torch()
    import torch.nn.functional as F

    full_cam = pyr[-1][2][i]
    H, W = full_cam.height, full_cam.width
    if not nbs or not bool(pyr[-1][1][i].any()):
        nan = np.full((H, W), np.nan, np.float32)
        return ViewDepth(nan, nan.copy(), nbs)
    z_c = float(full_cam.world_to_cam(np.asarray(center_world, float))[2])
    near, far = max(0.05, z_c - config.depth_radius), z_c + config.depth_radius
    invd = None  # current estimate, inverse depth at the current level's size
    for level, (greys, masks, cams) in enumerate(pyr):
        cam = cams[i]
        mask = masks[i]
        crop = _crop_of(mask, config.window)
        sweep = _Sweep(greys[i], cam, crop, [greys[j] for j in nbs], [cams[j] for j in nbs], config)
        x0, y0, x1, y1 = crop
        h, w = y1 - y0, x1 - x0
        scale = _disparity_per_invdepth(cam, [cams[j] for j in nbs], z_c)
        if invd is None:
            n = int(np.clip(np.ceil((1 / near - 1 / far) * scale / config.coarse_step_px) + 1, 8,
                            config.max_hypotheses))
            values = torch.linspace(1 / far, 1 / near, n, device=device, dtype=torch.float32)
            hyp = values[:, None, None].expand(n, h, w)
            step = torch.full((h, w), float(values[1] - values[0]), device=device)
            if prior is not None:
                hyp, step = _prior_hypotheses(hyp, step, prior, cam, crop, config, scale, device)
        else:
            cur = F.interpolate(invd[None, None], size=(cam.height, cam.width), mode="bilinear",
                                align_corners=False)[0, 0, y0:y1, x0:x1]
            s = config.refine_step_px / scale
            n_side = config.final_steps if level == len(pyr) - 1 else config.refine_steps
            k = torch.arange(-n_side, n_side + 1, device=device, dtype=torch.float32)
            hyp = (cur[None] + k[:, None, None] * s).clamp_min(1e-3)
            step = torch.full((h, w), s, device=device)
        costs = torch.empty(hyp.shape, device=device)
        for c in range(0, hyp.shape[0], config.chunk):
            costs[c:c + config.chunk] = sweep.cost(1.0 / hyp[c:c + config.chunk])
        best, conf = _best(costs, hyp, step)
        full = torch.full((cam.height, cam.width), 1 / z_c, device=device)
        full[y0:y1, x0:x1] = best
        invd = full
    depth = torch.full((H, W), float("nan"), device=device)
    confidence = torch.full((H, W), float("nan"), device=device)
    ok = mask[y0:y1, x0:x1] & (best > 0)
    depth[y0:y1, x0:x1] = torch.where(ok, 1.0 / best.clamp_min(1e-6), torch.full_like(best, float("nan")))
    confidence[y0:y1, x0:x1] = torch.where(ok, conf, torch.full_like(conf, float("nan")))
    d = depth.cpu().numpy().astype(np.float32)
    c = confidence.cpu().numpy().astype(np.float32)
    d[~(c >= config.min_ncc)] = np.nan
    return ViewDepth(d, c, nbs)


def _prior_hypotheses(hyp, step, prior, cam, crop, config: StereoConfig, scale, device):
    """Where a prior depth exists, sweep ``prior_radius`` around it instead of the whole range."""
    torch = _torch()
    import torch.nn.functional as F

    x0, y0, x1, y1 = crop
    p = torch.as_tensor(np.asarray(prior, np.float32), device=device)[None, None]
    p = F.interpolate(p, size=(cam.height, cam.width), mode="nearest")[0, 0, y0:y1, x0:x1]
    have = torch.isfinite(p) & (p > 0)
    n = hyp.shape[0]
    lo = 1 / (p + config.prior_radius)
    hi = 1 / (p - config.prior_radius).clamp_min(1e-3)
    frac = torch.linspace(0, 1, n, device=device)[:, None, None]
    local = lo[None] + frac * (hi - lo)[None]
    local_step = (hi - lo) / max(n - 1, 1)
    return (torch.where(have[None], local, hyp), torch.where(have, local_step, step))


from facebench.prepare.mvs_consistency import consistency_filter  # noqa: E402  (part of this API)

__all__ = ["StereoConfig", "ViewDepth", "consistency_filter", "resolve_device", "select_neighbours",
           "stereo_frame"]
