from __future__ import annotations

import pytest

from realsyn_spark.cli import main
from realsyn_spark.config import ConfigError, load_config, parse_override


@pytest.mark.parametrize("profile", ["local", "paper", "databricks", "emr"])
def test_every_profile_loads_and_validates(profile):
    config = load_config(profile)
    assert config.profile == profile


def test_paper_profile_carries_the_papers_models_and_numbers():
    config = load_config("paper")
    assert config.embedding.model == "EVA02-E-14-plus"
    assert config.semantic_dedup.image_threshold == 0.9
    assert config.sentence_semantic.perplexity.model == "gpt2-large"
    assert config.text_clustering.num_clusters == 2_000_000
    assert config.balance.image_clusters == 1_000_000
    assert config.balance.caps == [20, 35, 180]
    assert (config.sentence_quality.min_words, config.sentence_quality.max_words) == (3, 81)
    assert config.image_filter.min_side_px == 100


def test_cluster_profiles_use_native_delta_and_gpu_executors():
    for profile in ("databricks", "emr"):
        config = load_config(profile)
        assert config.storage.backend == "spark-delta"
        assert config.spark.conf["spark.executor.resource.gpu.amount"] == "1"
        assert "spark.task.resource.gpu.amount" in config.spark.conf


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("storage.bogus=1", "unknown config key storage.bogus"),
        ("nonsense=1", "unknown config key nonsense"),
        ("ingest.fetch.retries=-1", "ingest.fetch.retries: -1 is below the minimum 0"),
        ("ingest.fetch.retries=abc", "ingest.fetch.retries: expected an integer"),
        ("storage.backend=parquet", "storage.backend: 'parquet' is not one of"),
        ("semantic_dedup.image_threshold=1.5", "semantic_dedup.image_threshold: 1.5 is above"),
        ("sentence_quality.min_words=90", "sentence_quality.min_words (90) > "),
        ("ingest.sources=[{kind: html_dir, pth: x}]", "unknown config key ingest.sources[0].pth"),
        ("ingest.fetch.enabled=maybe", "ingest.fetch.enabled: expected true/false"),
    ],
)
def test_bad_values_name_the_key(override, message):
    with pytest.raises(ConfigError) as info:
        load_config("local", [override])
    assert message in str(info.value)


def test_set_override_parses_yaml_values():
    assert parse_override("a.b=3") == {"a": {"b": 3}}
    assert parse_override("a=[1, 2]") == {"a": [1, 2]}
    config = load_config("local", ["storage.root=/tmp/x", "balance.caps=[1,2]"])
    assert config.storage.root == "/tmp/x"
    assert config.balance.caps == [1, 2]
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        parse_override("no-equals-sign")


def test_unknown_profile_and_extends_cycle(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="profile 'nope' not found"):
        load_config("nope")
    (tmp_path / "a.yaml").write_text("extends: b\n")
    (tmp_path / "b.yaml").write_text("extends: a\n")
    monkeypatch.setenv("REALSYN_CONF_DIR", str(tmp_path))
    with pytest.raises(ConfigError, match="cycle"):
        load_config("a")


def test_section_hash_changes_only_with_its_section():
    base = load_config("local")
    other = load_config("local", ["balance.seed=7"])
    assert base.section_hash("ingest") == other.section_hash("ingest")
    assert base.section_hash("balance") != other.section_hash("balance")


def test_cli_reports_config_errors_before_spark_starts(capsys, monkeypatch):
    import realsyn_spark.api

    def no_spark(*args, **kwargs):
        raise AssertionError("Spark must not start when the config is invalid")

    monkeypatch.setattr(realsyn_spark.api, "get_spark", no_spark)
    assert main(["run", "--all", "--set", "storage.nope=1"]) == 2
    assert "unknown config key storage.nope" in capsys.readouterr().err
    assert main(["run", "no_such_stage"]) == 2
    assert "unknown stage 'no_such_stage'" in capsys.readouterr().err
    assert main(["run", "--all", "--set", "sentence_semantic.perplexity.model=gpt5"]) == 2
    assert "unknown perplexity model 'gpt5'" in capsys.readouterr().err
    assert main(["run", "--all", "--set", "embedding.model=no-such-clip"]) == 2
    assert "unknown embedder 'no-such-clip'" in capsys.readouterr().err


def test_cli_show_config_prints_resolved_yaml(capsys):
    assert main(["show-config", "--profile", "paper", "--set", "retrieval.top_k=5"]) == 0
    out = capsys.readouterr().out
    assert "num_clusters: 2000000" in out
    assert "top_k: 5" in out
