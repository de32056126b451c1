"""Model and training configurations of the reference transformer (``tiny``, ``base``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace

from facebench.errors import FacebenchError, did_you_mean


@dataclass(frozen=True)
class ModelConfig:
    """Sizes of :class:`~facebench.baseline.model.FaceTransformer`.

    ``depth`` blocks alternate frame attention (even index) and global attention
    over every frame's tokens (odd index); ``out_layers`` are the block indices
    whose tokens feed the DPT heads (shallow to deep, four of them).
    """

    name: str = "tiny"
    patch: int = 8
    dim: int = 192
    depth: int = 6
    heads: int = 3
    mlp_ratio: float = 4.0
    layerscale: float | None = 1e-1
    out_layers: tuple[int, ...] = (1, 2, 4, 5)
    head_features: int = 48
    pos_grid: int = 16  # learned position grid (interpolated to other sizes)
    image_size: int = 128  # long side the model is trained and run at
    prior: bool = True  # take the template prior (facebench.baseline.prior) as input, predict corrections
    # the prior's template: the model's canonical space (training GT must be in it); checkpoints
    # written before this existed have no entry and were trained on facebench-head
    template: str = "facebench-head"
    # per-frame affine map of the prior's canonical coordinates, regressed from pooled tokens
    # (ignored without ``prior``); False keeps checkpoints written before it existed loadable
    pose_head: bool = False
    # add the canonical head's dense per-pixel correction (False: canonical = the pose head's affine
    # map of the prior alone, 12 numbers per frame that cannot memorise a training head's shape)
    dense_canonical: bool = True
    # predict the canonical corrections (pose head and dense) along the camera's axes, rotated to
    # canonical axes with the clip's camera rotation: a head seen further right in the image is then
    # the same output for every camera of the rig (forward needs ``rotation``)
    camera_frame: bool = False
    # where the prior comes from: "rig" (the neutral template where a capture rig aims, one map per
    # clip) or "fit" (the template fitted per frame to 2D landmarks: exists on any real footage)
    prior_source: str = "rig"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["out_layers"] = list(self.out_layers)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        names = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in d.items() if k in names}
        if "out_layers" in kwargs:
            kwargs["out_layers"] = tuple(kwargs["out_layers"])
        return cls(**kwargs)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings; everything that changes a run's numbers is here."""

    steps: int = 2000
    batch_size: int = 2
    window: int = 4  # frames per sample (S)
    lr: float = 4e-4
    weight_decay: float = 0.05
    warmup: int = 100
    grad_clip: float = 1.0
    seed: int = 0
    # prior jitter: render each training sample's prior with the template moved by a random rigid
    # transform (translation sigma in metres, rotation sigma in degrees), so the model must read
    # the misalignment of image and prior instead of memorising each identity's offset
    prior_jitter_m: float = 0.0
    prior_jitter_deg: float = 0.0
    # domain randomisation of the training windows (facebench.baseline.augment)
    augment: bool = False
    checkpoint_every: int = 250
    log_every: int = 10
    num_workers: int = 0
    loss: dict = field(default_factory=lambda: {
        "w_depth_si": 1.0, "w_depth_grad": 0.5, "w_depth_conf": 0.1, "w_canonical": 1.0,
        "w_foreground": 0.2, "alpha_depth": 0.05, "alpha_canonical": 0.2, "si_lambda": 0.5,
    })

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


CONFIGS: dict[str, ModelConfig] = {
    # A few million parameters: trains on a laptop CPU at 128 px.
    "tiny": ModelConfig(pose_head=True, camera_frame=True),
    # ViT-B-sized encoder (86M; 120M with the DPT heads) with alternating attention; for GPUs.
    "base": ModelConfig(name="base", patch=16, dim=768, depth=12, heads=12, out_layers=(2, 5, 8, 11),
                        head_features=256, pos_grid=32, image_size=512, layerscale=1e-5,
                        pose_head=True, camera_frame=True),
}


def get_config(name: str, **overrides) -> ModelConfig:
    """A named model configuration, with optional field overrides (for tests)."""
    if name not in CONFIGS:
        raise FacebenchError(f"unknown model config {name!r}{did_you_mean(name, CONFIGS)}; "
                             f"choose from {sorted(CONFIGS)}")
    return replace(CONFIGS[name], **overrides)
