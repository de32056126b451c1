"""Pipeline configuration: defaults, overrides, typos, hash coverage."""

import pytest

from facebench.errors import InputError
from facebench.io.shards import config_hash
from facebench.prepare.config import PipelineConfig, load_config, merge


def test_defaults_load_into_typed_sections():
    cfg = PipelineConfig.from_dict(load_config())
    assert cfg.fit.iterations > 0 and cfg.fit.threads == 1
    assert cfg.fusion.voxel_size == pytest.approx(0.002)
    assert cfg.fit.data_regions == (1, 3, 4)  # YAML lists become tuples
    assert cfg.max_offset == pytest.approx(0.05)
    assert cfg.compression == "gzip"


def test_override_file_merges_deeply(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("fit:\n  iterations: 7\nshards:\n  compression: none\n")
    cfg = load_config(path)
    assert cfg["fit"]["iterations"] == 7
    assert cfg["fit"]["lr"] == load_config()["fit"]["lr"]  # untouched siblings kept
    assert PipelineConfig.from_dict(cfg).compression is None


def test_unknown_key_fails_with_hint():
    with pytest.raises(InputError, match=r"fit\.iteratons.*did you mean 'iterations'"):
        merge(load_config(), {"fit": {"iteratons": 3}})
    with pytest.raises(InputError, match="must be a mapping"):
        merge(load_config(), {"fit": 3})


def test_every_value_changes_the_hash():
    base = load_config()
    h0 = config_hash(base)
    assert config_hash(load_config()) == h0
    for section, key in (("fusion", "voxel_size"), ("fit", "max_offset"), ("maps", "n_tracks")):
        changed = merge(base, {section: {key: base[section][key] * 2}})
        assert config_hash(changed) != h0, (section, key)


def test_prepare_synth_benchmark_writes_exact_gt_once(tmp_path, monkeypatch):
    """synth-v1's recipe, shrunk to one tiny sequence: exact GT, benchmark recorded, rerun is a no-op."""
    import dataclasses
    import json
    from types import MappingProxyType

    import facebench.benchmarks as benchmarks
    from facebench.io.shards import validate_gt
    from facebench.prepare import prepare_synth_benchmark

    real = benchmarks.get_benchmark("synth-v1")
    tiny = dataclasses.replace(real, width=64, height=96, source=MappingProxyType(
        {**real.source, "preset": "tiny", "participants": ["901"], "sequences": 1, "frames": 2}))
    monkeypatch.setattr(benchmarks, "get_benchmark", lambda name: tiny)
    summary = prepare_synth_benchmark("synth-v1", out=tmp_path / "gt", progress=False)
    assert validate_gt(tmp_path / "gt") == []
    manifest = json.loads((tmp_path / "gt" / "manifest.json").read_text())
    assert manifest["benchmark"] == "synth-v1"
    assert summary.clips == 3 and summary.frames == 6
    assert manifest["clips"][0]["W"] == 64 and manifest["clips"][0]["H"] == 96
    before = (tmp_path / "gt" / "manifest.json").read_text()
    prepare_synth_benchmark("synth-v1", out=tmp_path / "gt", progress=False)
    assert (tmp_path / "gt" / "manifest.json").read_text() == before


def test_backend_errors_are_for_people():
    import importlib.util

    from facebench.errors import FacebenchError
    from facebench.parallel import backend_context

    with pytest.raises(FacebenchError, match="unknown backend 'spark'"):
        with backend_context("spark", 1):
            pass
    with pytest.raises(FacebenchError, match="--scheduler needs --backend dask or ray"):
        with backend_context("loky", 1, "tcp://x:8786"):
            pass
    if importlib.util.find_spec("ray") is None:
        with pytest.raises(FacebenchError, match=r"facebench\[ray\]"):
            with backend_context("ray", 1):
                pass
    with backend_context("loky", 3) as n_jobs:
        assert n_jobs == 3


def test_image_codec_of_schema_2_shards(tmp_path):
    assert PipelineConfig.from_dict(load_config()).image_codec == "jpeg"
    path = tmp_path / "c.yaml"
    path.write_text("shards:\n  image_codec: png\n")
    assert PipelineConfig.from_dict(load_config(path)).image_codec == "png"
