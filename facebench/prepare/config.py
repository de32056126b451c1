"""Configuration of ``prepare``: ``pipelines/nersemble.yaml`` (``pipelines/registered.yaml`` for
``prepare multiface`` / ``ava256``) plus ``--config`` overrides.

The configuration is a plain nested dict (it is recorded in ``manifest.json``
and hashed); :class:`PipelineConfig` gives typed access.  Every key of an
override file must exist in the defaults: a typo fails with a hint instead of
being silently ignored.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, fields, replace
from pathlib import Path

from facebench.errors import InputError, did_you_mean
from facebench.prepare.camera_check import CameraCheckConfig
from facebench.prepare.fit import FitConfig
from facebench.prepare.masks import MaskConfig
from facebench.prepare.mvs import StereoConfig
from facebench.prepare.pointcloud import FusionConfig

DEFAULT_PIPELINE = "nersemble.yaml"


def default_config(pipeline: str = DEFAULT_PIPELINE) -> dict:
    """The shipped defaults (``pipelines/nersemble.yaml``, or ``pipeline``) as a dict."""
    from facebench.resources import pipelines_dir

    return _read_yaml(pipelines_dir() / pipeline)


def _read_yaml(path) -> dict:
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise InputError(f"cannot read configuration ({exc.strerror})", path) from exc
    except yaml.YAMLError as exc:
        raise InputError(f"not valid YAML ({exc})", path) from exc
    if not isinstance(data, dict):
        raise InputError("a pipeline configuration must be a mapping", path)
    return data


def merge(base: dict, override: dict, where: str = "") -> dict:
    """Deep-merge ``override`` into a copy of ``base``; unknown keys are an InputError."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if key not in base:
            raise InputError(f"unknown configuration key '{where}{key}'{did_you_mean(str(key), base)}")
        if isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise InputError(f"configuration key '{where}{key}' must be a mapping")
            out[key] = merge(base[key], value, f"{where}{key}.")
        else:
            out[key] = value
    return out


def load_config(path=None, overrides: dict | None = None, pipeline: str = DEFAULT_PIPELINE) -> dict:
    """Defaults (``pipelines/{pipeline}``), then the file at ``path`` (if any), then ``overrides``
    (a dict of the same shape)."""
    config = default_config(pipeline)
    if path is not None:
        config = merge(config, _read_yaml(path))
    if overrides:
        config = merge(config, overrides)
    return config


def _section(cls, values: dict):
    names = {f.name for f in fields(cls)}
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k in names}
    return cls(**kwargs)


@dataclass(frozen=True)
class PipelineConfig:
    """Typed view of the configuration dict."""

    seed: int
    fusion: FusionConfig
    fit: FitConfig
    max_offset: float
    n_tracks: int
    visibility_margin: float
    compression: str | None
    compression_level: int
    qc: dict | None = None  # thresholds of facebench.prepare.qc, {figure: {warn, fail, ...}}
    image_codec: str = "jpeg"
    depth: str = "auto"  # facebench.prepare.depth_source: auto | maps | pointcloud | mvs | hull
    stereo: StereoConfig = StereoConfig()
    masks: MaskConfig = MaskConfig()
    landmarks: dict | None = None  # {detect: auto | on | off, inlier_px}
    camera_check: CameraCheckConfig = CameraCheckConfig()  # facebench.prepare.camera_check
    stereo_agree: float = 0.005  # metres: stereo further in front of the fitted surface is an occluder
    fit_with_stereo: FitConfig | None = None  # the fit when depth comes from multi-view stereo
    qc_with_stereo: dict | None = None  # qc thresholds replaced then ({figure: {warn, fail, ...}})

    @classmethod
    def from_dict(cls, config: dict) -> PipelineConfig:
        maps, shards = config["maps"], config["shards"]
        compression = shards.get("compression")
        fit = _section(FitConfig, config["fit"])
        stereo_fit = dict(config.get("fit_with_stereo") or {})
        unknown = sorted(set(stereo_fit) - {f.name for f in fields(FitConfig)})
        if unknown:
            raise InputError(f"fit_with_stereo: {', '.join(unknown)} are not fit settings")
        return cls(seed=int(config["seed"]), fusion=_section(FusionConfig, config["fusion"]),
                   fit=fit, fit_with_stereo=replace(fit, **stereo_fit),
                   qc_with_stereo=config.get("qc_with_stereo"), max_offset=float(maps["max_offset"]),
                   n_tracks=int(maps["n_tracks"]), visibility_margin=float(maps["visibility_margin"]),
                   stereo_agree=float(maps.get("stereo_agree", 0.005)),
                   compression=None if compression in (None, "none") else compression,
                   compression_level=int(shards.get("compression_level", 4)),
                   qc=config.get("qc"), image_codec=str(shards.get("image_codec", "jpeg")),
                   depth=str(config.get("depth", "auto")),
                   stereo=_section(StereoConfig, config.get("stereo", {})),
                   masks=_section(MaskConfig, config.get("masks", {})),
                   landmarks=dict(config.get("landmarks") or {}),
                   camera_check=_section(CameraCheckConfig, config.get("camera_check") or {}))
