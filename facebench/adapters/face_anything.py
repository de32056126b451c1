"""Face Anything (DA3 + a canonical "deformation" DPT head) as a facebench method.

The released model is Depth Anything 3 GIANT plus ``dpt.DPT(3072, output_dim=4,
head_name="deformation", use_sky_head=False, activation="linear")``: channels 0-2
are canonical xyz in the release's own (FLAME-based, undocumented) normalisation,
channel 3 a confidence.  Its depth is camera-space z up to scale.  The network is
built offline from the config shipped in ``depth-anything-3`` (never
``from_pretrained``), the variant read from the checkpoint's tensor shapes, and
run on each clip's frames together as one multi-view batch, as the release does.
Predictions are written at each clip's resolution (SPEC §5) with
``depth_scale: relative`` and ``canonical_space: face-anything``; tracks come from
nearest neighbours in the predicted canonical maps (``facebench.evaluate.tracks``).

Install: ``pip install 'facebench[faceanything]' && pip install --no-deps depth-anything-3==0.1.1``.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np

from facebench.errors import FacebenchError, InputError

INSTALL = "pip install 'facebench[faceanything]' && pip install --no-deps depth-anything-3==0.1.1"
WIDTHS = {384: "da3-small", 768: "da3-base", 1024: "da3-large", 1536: "da3-giant"}
BACKBONE_KEY = "backbone.pretrained.patch_embed.proj.weight"
HEAD_PREFIX = "deformation_head."
CANONICAL_SPACE = "face-anything"
TRACK_DISTANCE = 0.01  # the release's recolouring threshold, in its canonical units


def _da3():
    try:
        from depth_anything_3.cfg import create_object, load_config
        from depth_anything_3.model import dpt
        from depth_anything_3.registry import MODEL_REGISTRY
    except ImportError as exc:
        raise FacebenchError(f"Face Anything needs depth-anything-3 ({exc.name} is missing): "
                             f"{INSTALL}") from None
    return create_object, load_config, dpt, MODEL_REGISTRY


def read_checkpoint(path, trust_checkpoint: bool = False) -> dict:
    """The network's state dict (keys without the ``model.`` prefix) from ``checkpoint.pt``.

    ``weights_only=True`` unless ``trust_checkpoint``: a full unpickle runs code from the file.
    """
    import pickle

    import torch

    path = Path(path)
    if not path.is_file():
        raise InputError("checkpoint not found", path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=not trust_checkpoint)
    except pickle.UnpicklingError:
        raise InputError("holds objects other than tensors; if you trust the file, pass "
                         "--trust-checkpoint (a full unpickle runs code from it)", path) from None
    except (RuntimeError, EOFError, OSError) as exc:
        raise InputError(f"not a torch checkpoint ({str(exc).splitlines()[0]})", path) from None
    state = ckpt["model"] if isinstance(ckpt, dict) and isinstance(ckpt.get("model"), dict) else ckpt
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise InputError("not a state dict (expected {'model': {name: tensor}} or {name: tensor})", path)
    return {(k[len("model."):] if k.startswith("model.") else k): v for k, v in state.items()}


def detect_variant(state: dict) -> str:
    """DA3 config name from the backbone width (384 small, 768 base, 1024 large, 1536 giant)."""
    if BACKBONE_KEY not in state:
        raise FacebenchError(f"checkpoint has no DA3 backbone ({BACKBONE_KEY} missing)")
    width = int(state[BACKBONE_KEY].shape[0])
    if width not in WIDTHS:
        raise FacebenchError(f"checkpoint backbone width {width} is no DA3 variant ({WIDTHS})")
    return WIDTHS[width]


def build_network(state: dict, variant: str | None = None):
    """DA3 network of ``variant`` (default: detected) plus the deformation head, weights loaded."""
    create_object, load_config, dpt, registry = _da3()
    head = {k[len(HEAD_PREFIX):]: v for k, v in state.items() if k.startswith(HEAD_PREFIX)}
    if "projects.0.weight" not in head:
        raise FacebenchError("checkpoint has no deformation head (model.deformation_head.*): it is a plain "
                             "DA3 checkpoint, not Face Anything; canonical maps would be untrained")
    variant = variant or detect_variant(state)
    if variant not in registry:
        raise FacebenchError(f"unknown DA3 variant {variant!r}; choose from {', '.join(WIDTHS.values())}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = create_object(load_config(registry[variant]))
    dim_in = int(head["projects.0.weight"].shape[1])
    if dim_in != net.head.projects[0].in_channels:
        raise FacebenchError(f"deformation head expects {dim_in} input channels, {variant} gives "
                             f"{net.head.projects[0].in_channels} (force the variant with --variant)")
    out_channels = [int(head[f"projects.{i}.weight"].shape[0]) for i in range(4)]
    features = int(head["scratch.layer1_rn.weight"].shape[0])
    net.deformation_head = dpt.DPT(dim_in, output_dim=4, head_name="deformation", use_sky_head=False,
                                   activation="linear", features=features, out_channels=out_channels)
    missing, _ = net.load_state_dict(state, strict=False)
    needed = [k for k in missing if k.startswith(("backbone.", "head.", HEAD_PREFIX))]
    if needed:
        raise FacebenchError(f"checkpoint lacks {len(needed)} tensors the network needs (first: {needed[0]}; "
                             f"variant {variant})")
    return net.eval(), variant


def run_clip(net, images, process_res: int = 504, device="cpu") -> dict:
    """Depth, canonical and confidence of one clip at its resolution.

    images (T,H,W,3) uint8 -> {"depth" (T,H,W) relative, "canonical" (T,H,W,3) in the
    release's space, "confidence" (T,H,W) of the canonical head}.
    """
    import torch

    from facebench.adapters.da3_preprocess import preprocess, resize_back

    device = torch.device(device)
    T, H, W = np.asarray(images).shape[:3]
    x, _, (w, h) = preprocess(images, None, process_res)
    x = torch.from_numpy(x)[None].to(device)  # (1,T,3,h,w)
    dtype = torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else torch.float16
    with torch.no_grad():
        with torch.autocast(device_type=device.type, dtype=dtype, enabled=device.type == "cuda"):
            feats, _ = net.backbone(x, cam_token=None, export_feat_layers=[],
                                    ref_view_strategy="saddle_balanced")
        with torch.autocast(device_type=device.type, enabled=False):
            feats = [[f.float() if torch.is_tensor(f) else f for f in feat] for feat in feats]
            depth = net.head(feats, h, w, patch_start_idx=0)["depth"][0]  # (T,h,w)
            out = net.deformation_head(feats, h, w, patch_start_idx=0)
    return {"depth": resize_back(depth, H, W), "canonical": resize_back(out["deformation"][0], H, W),
            "confidence": resize_back(out["deformation_conf"][0], H, W)}


def predict_face_anything(checkpoint, gt=None, out=None, *, benchmark=None, device="auto",
                          process_res: int = 504, variant: str | None = None,
                          trust_checkpoint: bool = False, track_distance: float = TRACK_DISTANCE,
                          progress: bool = True) -> dict:
    """Predict every clip of a benchmark with Face Anything into the predictions folder ``out``.

    Returns meta.json plus ``clips`` and ``frames`` counts.  Tracks: each GT query point's
    query pixel is looked up in the predicted canonical map of its query frame, then found
    in every frame by nearest neighbour (visible under ``track_distance``).
    """
    import torch
    from tqdm import tqdm

    from facebench.evaluate.run import resolve
    from facebench.evaluate.tracks import tracks_for_clip
    from facebench.io.prediction_writer import write_clip, write_meta

    if out is None:
        raise FacebenchError("pass --out: the predictions folder to write")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    net, variant = build_network(read_checkpoint(checkpoint, trust_checkpoint), variant)
    net = net.to(device)
    bench, reader = resolve(None, gt, benchmark)
    seconds, frames = 0.0, 0
    for cid in tqdm(reader.clip_ids, desc="predict face-anything", unit="clip", disable=not progress):
        clip = reader.clip(cid, fields=("image", "tracks"))
        t0 = time.perf_counter()
        maps = run_clip(net, clip.image, process_res, device)
        maps.update(tracks_for_clip(maps["canonical"], clip.tracks, maps["depth"], clip.K, track_distance))
        seconds += time.perf_counter() - t0
        frames += len(clip.image)
        write_clip(out, cid, maps)
    reader.close()
    meta = {"method": f"face-anything-{variant.removeprefix('da3-')}", "benchmark": bench.name,
            "description": "Face Anything: Depth Anything 3 with a canonical (deformation) DPT head; "
                           "canonical maps in the release's FLAME-based space",
            "url": "https://github.com/AristidesAI/FaceAnything-CoreML",
            "params": {"checkpoint": Path(checkpoint).name, "variant": variant, "process_res": process_res,
                       "track_max_distance": track_distance},
            "runtime_s_per_frame": round(seconds / max(frames, 1), 5),
            "device": str(device), "depth_scale": "relative", "canonical_space": CANONICAL_SPACE}
    write_meta(out, meta)
    return {**meta, "clips": len(reader.clip_ids), "frames": frames}


class FaceAnythingMethod:
    """Face Anything behind the ``facebench predict`` method registry's contract (duck-typed:
    ``predict_clip(clip) -> {depth, canonical, confidence}`` at the clip's resolution; the
    driver derives tracks).  Register with
    ``register("face-anything", "facebench.adapters.face_anything:method", ...)``.
    Options read: ``checkpoint``, ``device``, and ``extra`` keys ``process_res``, ``variant``,
    ``trust_checkpoint``."""

    description = "Face Anything: Depth Anything 3 + a canonical (deformation) DPT head"
    canonical_template = CANONICAL_SPACE  # the release's own space, no facebench template
    canonical_frame = None
    depth_scale = "relative"

    def __init__(self, options):
        import torch

        extra = dict(getattr(options, "extra", None) or {})
        if not getattr(options, "checkpoint", None):
            raise FacebenchError("face-anything needs --checkpoint PATH (the release's checkpoint.pt)")
        device = getattr(options, "device", None) or "auto"
        self.device = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                                   ("cpu" if device == "auto" else device))
        state = read_checkpoint(options.checkpoint, bool(extra.get("trust_checkpoint", False)))
        self.net, self.variant = build_network(state, extra.get("variant"))
        self.net = self.net.to(self.device)
        self.process_res = int(extra.get("process_res", 504))
        self.name = f"face-anything-{self.variant.removeprefix('da3-')}"
        self.params = {"checkpoint": Path(options.checkpoint).name, "variant": self.variant,
                       "process_res": self.process_res}

    def predict_clip(self, clip) -> dict:
        return run_clip(self.net, clip.images, self.process_res, self.device)


def method(options) -> FaceAnythingMethod:
    """Factory for the method registry."""
    return FaceAnythingMethod(options)
