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
