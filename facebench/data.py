"""``ShardDataset``: random windows of K consecutive frames from GT shards (SPEC §4).

A torch ``Dataset`` for training any model on facebench ground truth.  Item ``i``
is a deterministic function of ``i`` (and ``seed``), so a seeded sampler gives
reproducible batches, and HDF5 files are opened lazily inside each worker
process (an ``h5py.File`` must not cross a ``fork``), so ``DataLoader`` works
with ``num_workers > 1``.

Each item is a dict of tensors (K = window, H x W after resizing):

========================  ===================  =========================================
key                       shape / dtype        meaning
========================  ===================  =========================================
``image``                 (K,3,H,W) float32    RGB in [0, 1]
``depth``                 (K,H,W) float32      z-depth in metres, 0 where invalid
``depth_valid``           (K,H,W) bool         GT depth is finite and > 0
``canonical``             (K,3,H,W) float32    normalized canonical xyz, 0 where invalid
``canonical_valid``       (K,H,W) bool         GT canonical is finite
``mask``                  (K,H,W) uint8        shard mask labels (0 bg, 1 face, 2, 3)
``K``                     (3,3) float32        intrinsics for the resized frames
``T_cam_from_world``      (4,4) float32        extrinsics
``frame_index``           (K,) int64           frame indices within the clip
``clip_id``               str                  ``{participant}/{sequence}/{serial}``
``prior``                 (K,5,H,W) float32    template prior (only with ``prior=True``, see
                                               :mod:`facebench.baseline.prior`)
========================  ===================  =========================================

Images are resized with area averaging; depth, canonical and mask with nearest
neighbour so invalid (NaN) pixels never bleed into valid ones.  GT folders of
schema 1 and 2 read alike (``GTReader`` decodes schema 2's encoded maps).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from facebench.errors import InputError


def resized_shape(height: int, width: int, size: int | None) -> tuple[int, int]:
    """(H, W) after scaling the long side to ``size`` (unchanged when ``size`` is None)."""
    if size is None:
        return height, width
    s = size / max(height, width)
    return max(1, round(height * s)), max(1, round(width * s))


def rescale_K(K: np.ndarray, old_hw, new_hw) -> np.ndarray:
    """Intrinsics for an image resized from ``old_hw`` to ``new_hw`` (pixel centres at integers)."""
    sy, sx = new_hw[0] / old_hw[0], new_hw[1] / old_hw[1]
    K = np.array(K, dtype=np.float64, copy=True)
    K[0, :] *= sx  # u_new + 0.5 = sx * (u_old + 0.5)
    K[1, :] *= sy
    K[0, 2] += 0.5 * sx - 0.5
    K[1, 2] += 0.5 * sy - 0.5
    return K


class ShardDataset(Dataset):
    """Windows of ``window`` consecutive frames from the clips of a GT folder.

    Parameters
    ----------
    gt_dir: folder with ``manifest.json`` and ``shards/``.
    window: frames per item (K); clips shorter than K are skipped.
    size: resize so the long image side is ``size`` pixels (None keeps the stored size).
    clips: optional list of clip ids (or participant ids) to keep.
    seed: with ``samples`` set, item ``i`` is a random window drawn from ``(seed, i)``.
    samples: dataset length for random sampling; None enumerates every window start.
    prior: add the template prior of each clip's camera; the ``canonical`` targets are then
        expressed in the prior template's normalization.
    prior_template: the template the prior is rendered with; the GT must be in its canonical
        space (a GT folder in another template's space is refused with one line).
    prior_jitter: (sigma metres, sigma degrees): render item ``i``'s prior with the template
        moved by a random rigid transform drawn from ``(seed, i)`` (training augmentation).
    prior_source: ``"rig"`` (the neutral template at the world origin, one map per clip) or
        ``"fit"`` (per frame, a stand-in for a landmark fit made from the GT mesh:
        :func:`facebench.baseline.prior.simulated_fit`; ``prior_jitter`` is its per-clip error).
    augment: domain randomisation drawn from ``(seed, i)`` (:mod:`facebench.baseline.augment`):
        zoom, background, occluders, lighting and colour, blur, noise, JPEG.
    """

    def __init__(self, gt_dir, window: int = 4, size: int | None = None, clips=None, seed: int = 0,
                 samples: int | None = None, prior: bool = False, prior_jitter=(0.0, 0.0),
                 prior_template: str = "facebench-head", prior_source: str = "rig", augment: bool = False):
        from facebench.io.shards import GTReader

        self.gt_dir = Path(gt_dir)
        self.reader = GTReader(self.gt_dir)
        self.window = int(window)
        self.size = size
        self.seed = int(seed)
        self.samples = samples
        self.prior = bool(prior)
        self.prior_jitter = (float(prior_jitter[0]), float(prior_jitter[1]))
        self.prior_template = str(prior_template)
        if prior_source not in ("rig", "fit"):
            raise InputError(f"prior_source must be 'rig' or 'fit', got {prior_source!r}")
        self.prior_source = prior_source
        self.augment = bool(augment)
        if self.prior and self.reader.template_name != self.prior_template:
            raise InputError(f"GT is in the {self.reader.template_name} canonical space but the model's "
                             f"prior template is {self.prior_template}: train on GT in that space (or set "
                             f"the model's template to {self.reader.template_name})", path=self.gt_dir)
        infos = [self.reader.clip_info(cid) for cid in self.reader.clip_ids]
        if clips is not None:
            keep = set(clips)
            infos = [c for c in infos if c["id"] in keep or c["participant"] in keep]
        self.clips = [c for c in infos if c["T"] >= self.window]
        if not self.clips:
            raise InputError(f"no clip with at least {self.window} frames", path=self.gt_dir)
        starts = np.array([c["T"] - self.window + 1 for c in self.clips])
        self._cum = np.concatenate([[0], np.cumsum(starts)])
        self._pid = os.getpid()

    def __len__(self) -> int:
        return int(self.samples) if self.samples is not None else int(self._cum[-1])

    def window_of(self, index: int) -> tuple[int, int]:
        """(clip number, first frame) of item ``index``."""
        if not 0 <= index < len(self):
            raise IndexError(index)
        flat = index
        if self.samples is not None:
            flat = int(np.random.default_rng([self.seed, index]).integers(self._cum[-1]))
        clip = int(np.searchsorted(self._cum, flat, side="right") - 1)
        return clip, int(flat - self._cum[clip])

    def _reader(self):
        """This process's reader: a worker never reuses HDF5 handles opened before the fork."""
        if self._pid != os.getpid():
            import pickle

            self.reader = pickle.loads(pickle.dumps(self.reader))  # GTReader drops its handles
            self._pid = os.getpid()
        return self.reader

    def __getitem__(self, index: int) -> dict:
        clip_no, start = self.window_of(int(index))
        info = self.clips[clip_no]
        clip = self._reader().clip(info["id"], fields=("image", "mask", "depth", "canonical"),
                                   frames=slice(start, start + self.window))
        out_hw = resized_shape(info["H"], info["W"], self.size)
        canonical = np.asarray(clip.canonical, np.float32)
        if self.prior:
            from facebench.baseline.prior import prior_normalization, renormalize

            canonical = renormalize(canonical, self.reader.center, self.reader.scale,
                                    *prior_normalization(self.prior_template))
        image, mask, depth, K = clip.image, clip.mask, np.asarray(clip.depth, np.float32), clip.K
        rng = np.random.default_rng([self.seed, int(index), 11])
        if self.augment:
            from facebench.baseline.augment import reframe

            image, mask, depth, canonical, K = reframe(rng, image, mask, depth, canonical, K)
        item = to_tensors(image, mask, depth, canonical, K, clip.T_cam_from_world, out_hw, info["id"], start)
        if self.augment:
            _photometric(rng, item)
        if self.prior and self.prior_source == "fit":
            from facebench.baseline.prior import mesh_prior, simulated_fit

            _, verts = self._reader().sequence_vertices(info["participant"], info["sequence"])
            jitter = self.prior_jitter if any(self.prior_jitter) else (0.01, 4.0)
            fitted = simulated_fit(rng, verts[start:start + self.window], self.prior_template, jitter)
            Kr = item["K"].numpy()
            item["prior"] = torch.from_numpy(np.stack([
                mesh_prior(Kr, clip.T_cam_from_world, *out_hw, v, self.prior_template) for v in fitted]))
        elif self.prior:
            from facebench.baseline.prior import jitter_transform, template_prior

            pose = None
            if any(self.prior_jitter):
                pose = jitter_transform(np.random.default_rng([self.seed, int(index), 7]), *self.prior_jitter)
            prior = template_prior(item["K"].numpy(), clip.T_cam_from_world, *out_hw, template_pose=pose,
                                   template=self.prior_template)
            item["prior"] = torch.from_numpy(prior)[None].expand(self.window, -1, -1, -1).contiguous()
        return item


def _photometric(rng, item: dict) -> None:
    """Background, occluders, lighting, colour, blur, noise, JPEG on a model-sized item (in place)."""
    from facebench.baseline.augment import photometric

    img, mask, vd, vc = photometric(rng, item["image"].permute(0, 2, 3, 1).numpy(), item["mask"].numpy(),
                                    item["depth_valid"].numpy(), item["canonical_valid"].numpy())
    item["image"] = torch.from_numpy(np.ascontiguousarray(img.transpose(0, 3, 1, 2), dtype=np.float32))
    item["mask"] = torch.from_numpy(mask)
    item["depth_valid"], item["canonical_valid"] = torch.from_numpy(vd), torch.from_numpy(vc)
    item["depth"] = torch.where(item["depth_valid"], item["depth"], torch.zeros_like(item["depth"]))
    item["canonical"] = torch.where(item["canonical_valid"][:, None], item["canonical"],
                                    torch.zeros_like(item["canonical"]))


def to_tensors(image, mask, depth, canonical, K, T_cam_from_world, out_hw, clip_id, start=0) -> dict:
    """Arrays of one window (K frames, stored resolution) -> the item dict at ``out_hw``."""
    in_hw = image.shape[1:3]
    img = torch.from_numpy(image).permute(0, 3, 1, 2).float() / 255.0
    dep = torch.from_numpy(depth)
    can = torch.from_numpy(canonical).permute(0, 3, 1, 2)
    msk = torch.from_numpy(mask)
    if tuple(out_hw) != tuple(in_hw):
        img = F.interpolate(img, size=out_hw, mode="area")
        dep = F.interpolate(dep[:, None], size=out_hw, mode="nearest-exact")[:, 0]
        can = F.interpolate(can, size=out_hw, mode="nearest-exact")
        msk = F.interpolate(msk[:, None].float(), size=out_hw, mode="nearest-exact")[:, 0].to(torch.uint8)
    depth_valid = torch.isfinite(dep) & (dep > 0)
    canonical_valid = torch.isfinite(can).all(dim=1)
    return {
        "image": img.contiguous(),
        "depth": torch.where(depth_valid, dep, torch.zeros_like(dep)).contiguous(),
        "depth_valid": depth_valid,
        "canonical": torch.where(canonical_valid[:, None], can, torch.zeros_like(can)).contiguous(),
        "canonical_valid": canonical_valid,
        "mask": msk.contiguous(),
        "K": torch.from_numpy(rescale_K(K, in_hw, out_hw).astype(np.float32)),
        "T_cam_from_world": torch.from_numpy(np.asarray(T_cam_from_world, dtype=np.float32)),
        "frame_index": torch.arange(start, start + img.shape[0]),
        "clip_id": clip_id,
    }
