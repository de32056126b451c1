"""The reference transformer and the trivial rows as registered methods.

The maps themselves come from :mod:`facebench.baseline.inference` (``run_transformer``)
and :mod:`facebench.baseline.trivial`; this module only adapts them to the
registry's contract (:mod:`facebench.methods.base`).
"""

from __future__ import annotations

import numpy as np

from facebench.methods.base import ClipInput, Method, Options


class Transformer(Method):
    description = (
        "Reference feed-forward transformer (alternating frame/global attention, DPT heads); "
        "tracks by nearest-neighbour search in predicted canonical space."
    )

    default_checkpoint = None  # the shipped ``tiny``

    def __init__(self, options: Options):
        super().__init__()
        from facebench.baseline.checkpoint import SHIPPED_DIR, load_model, resolve_checkpoint
        from facebench.baseline.runtime import (
            compile_model,
            configure_backends,
            resolve_device,
            resolve_precision,
        )
        from facebench.errors import FacebenchError

        self.device = resolve_device(options.device)
        self.precision = resolve_precision(options.precision, self.device)
        self.batch_windows = options.batch_windows
        if self.batch_windows < 1:
            raise FacebenchError("--batch-windows must be at least 1")
        configure_backends(self.device)
        checkpoint = options.checkpoint or self.default_checkpoint
        weights = resolve_checkpoint(checkpoint)
        self.model, meta = load_model(weights, device=self.device)
        compile_model(self.model, options.compile)
        if self.model.config.prior:
            from facebench.baseline.prior import prior_normalization

            self.canonical_template = self.model.config.template  # the prior's: the model's canonical space
            self.canonical_frame = prior_normalization(self.canonical_template)
        self.fitter = None
        if self.model.config.prior and self.model.config.prior_source == "fit":
            from facebench.methods.landmark_fit import LandmarkFit

            # the prior is the template fitted to each frame's 2D landmarks (landmark-fit)
            self.fitter = LandmarkFit(Options(template=self.model.config.template, device="cpu"))
        self.frames_per_window = options.frames_per_window or int(meta.get("train", {}).get("window", 4))
        shipped = weights.parent == SHIPPED_DIR
        # a shipped checkpoint names the row (tiny, tiny-ict, tiny-head); any other is named by its config
        self.name = f"facebench-transformer-{weights.stem if shipped else meta['model']['name']}"
        self.params = {
            "checkpoint": f"shipped:{weights.name}" if shipped else str(checkpoint),
            "config": meta["model"]["name"],
            "step": meta.get("step"),
            "image_size": self.model.config.image_size,
            "frames_per_window": self.frames_per_window,
            "track_max_distance": options.track_distance,
            "precision": self.precision,
            "batch_windows": self.batch_windows,
            "prior": self.model.config.prior_source if self.model.config.prior else "none",
        }

    def predict_clip(self, clip: ClipInput) -> dict:
        from facebench.baseline.inference import run_transformer

        fitted, no_face = None, None
        if self.fitter is not None:
            fit = self.fitter.fit_clip(clip)
            world_from_cam = np.linalg.inv(np.asarray(clip.T_cam_from_world, np.float64))
            fitted = fit["vertices"] @ world_from_cam[:3, :3].T + world_from_cam[:3, 3]
            no_face = ~fit["found"]
        out = run_transformer(
            self.model,
            clip.images,
            self.frames_per_window,
            self.model.config.image_size,
            self.device,
            K=clip.K,
            T_cam_from_world=clip.T_cam_from_world,
            precision=self.precision,
            batch_windows=self.batch_windows,
            fitted_vertices=fitted,
        )
        if no_face is not None:
            out["no_face"] = no_face
        return out


class TransformerHead(Transformer):
    """The reference transformer trained on procedural facebench-head subjects (``tiny-head``)."""

    default_checkpoint = "tiny-head"


class TransformerFrame(Transformer):
    """The reference transformer seeing one frame at a time (window 1): a per-frame method.

    Same checkpoint, same maps per frame as a window of one; only the temporal context is
    gone, so it is the row to compare with the windowed transformer on the temporal metrics.
    """

    description = (
        "Reference transformer with a window of one frame: every frame predicted alone (a per-frame "
        "method); tracks by nearest-neighbour search in predicted canonical space."
    )

    def __init__(self, options: Options):
        import dataclasses

        super().__init__(dataclasses.replace(options, frames_per_window=1))
        self.name = f"{self.name}-frame"


class TransformerICT(Transformer):
    """The reference transformer with the rig-aimed template prior, trained on ICT subjects
    (``tiny-ict``, shipped as ``tiny`` before the retraining for real footage)."""

    default_checkpoint = "tiny-ict"


class TemplateFrontal(Method):
    name = "template-frontal"
    description = (
        "Trivial floor: neutral template at the world origin rendered from the clip's camera "
        "(one fixed canonical projection for every frame)."
    )

    def __init__(self, options: Options):
        super().__init__()
        from facebench.templates import DEFAULT_TEMPLATE, load

        self.template = load(options.template or DEFAULT_TEMPLATE)
        self.canonical_template = self.template.name
        self.canonical_frame = (np.asarray(self.template.center), float(self.template.scale))
        self.params = {"template": self.template.name, "track_max_distance": options.track_distance}

    def predict_clip(self, clip: ClipInput) -> dict:
        from facebench.baseline.trivial import template_frontal

        return template_frontal(clip.shape, clip.K, clip.T_cam_from_world, self.template)


class MeanDepthPlane(Method):
    name = "mean-depth-plane"
    description = (
        "Trivial floor: constant depth at the rig's aim point (world origin), canonical 0, static tracks."
    )

    def __init__(self, options: Options):
        super().__init__()

    def predict_clip(self, clip: ClipInput) -> dict:
        from facebench.baseline.trivial import mean_depth_plane, origin_depth, static_tracks

        T = clip.shape[0]
        maps = mean_depth_plane(clip.shape, clip.T_cam_from_world)
        xy, vis, xyz = static_tracks(
            clip.query_frame, clip.query_xy, origin_depth(clip.T_cam_from_world), clip.K, T
        )
        return {**maps, "tracks_xy": xy, "tracks_visible": vis, "tracks_xyz": xyz}


def transformer(options: Options) -> Method:
    return Transformer(options)


def transformer_head(options: Options) -> Method:
    return TransformerHead(options)


def transformer_frame(options: Options) -> Method:
    return TransformerFrame(options)


def transformer_ict(options: Options) -> Method:
    return TransformerICT(options)


def template_frontal(options: Options) -> Method:
    return TemplateFrontal(options)


def mean_depth_plane(options: Options) -> Method:
    return MeanDepthPlane(options)
