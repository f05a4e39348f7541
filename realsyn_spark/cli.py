"""The ``realsyn`` command line; ``python -m realsyn_spark`` and spark-submit run it too.

argparse results stay in this module: they are turned into a validated
:class:`~realsyn_spark.config.PipelineConfig` (before Spark starts) and plain arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap

from realsyn_spark import __version__
from realsyn_spark.config import ConfigError, PipelineConfig, config_to_yaml, load_config

EPILOG = textwrap.dedent(
    """\
    examples:
      realsyn setup                          # NLTK punkt models + the sample corpus
      realsyn run --all                      # every stage, skipping finished ones
      realsyn run ingest --force             # redo one stage
      realsyn tables
      realsyn sql "SELECT reason, count(*) FROM rejects GROUP BY reason"
      realsyn funnel --plot funnel.png
      realsyn export --format realsyn-parquet --out data/export/realsyn
      realsyn show-config --profile paper --set text_clustering.num_clusters=1000
      spark-submit realsyn_spark/__main__.py run --all --profile emr
    """
)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--profile",
        default=os.environ.get("REALSYN_PROFILE", "local"),
        help="profile name in conf/ or a YAML path (default: $REALSYN_PROFILE or 'local')",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config key, e.g. --set storage.root=/tmp/delta (repeatable)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress messages")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="realsyn",
        description="RealSyn on Spark: interleaved documents -> image-text pairs in Delta tables.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"realsyn-spark {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("stages", help="list stages with their input and output tables")
    _common(p)

    p = sub.add_parser(
        "run",
        help="run stages (skips a stage whose config and inputs are unchanged)",
        description="Run stages in dependency order. A stage whose config and input table "
        "versions match its last successful run is skipped; --force redoes it.",
    )
    _common(p)
    p.add_argument("stages", nargs="*", metavar="STAGE", help="stage names (see `realsyn stages`)")
    p.add_argument("--all", action="store_true", help="run every stage")
    p.add_argument("--force", action="store_true", help="redo stages even when up to date")

    p = sub.add_parser("show-config", help="print the resolved, validated config as YAML")
    _common(p)

    p = sub.add_parser("tables", help="list Delta tables with version and row count")
    _common(p)

    p = sub.add_parser(
        "sql",
        help="run a SQL query; every pipeline table is a view (plus `rejects`)",
    )
    _common(p)
    p.add_argument("query", help='e.g. "SELECT count(*) FROM sentences"')
    p.add_argument("--limit", type=int, default=50, help="rows to print (default 50)")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")

    p = sub.add_parser(
        "funnel",
        help="rows in/kept/rejected per step, in the paper's funnel shape",
        description="Per stage: rows in, kept, rejected per reason (from the runs table). "
        "--plot writes a PNG chart.",
    )
    _common(p)
    p.add_argument("--plot", metavar="PNG", help="also write a chart to this PNG file")

    p = sub.add_parser(
        "export",
        help="write the pairs as RealSyn's released parquet or WebDataset shards",
        description="realsyn-parquet: columns raw_image_url, text1, text2, text3, syn_text "
        "(img2dataset --url_col raw_image_url --caption_col text1). webdataset: tar shards "
        "of jpg + txt (text1) + json (other texts) for open_clip.",
    )
    _common(p)
    p.add_argument("--format", required=True, choices=("realsyn-parquet", "webdataset"))
    p.add_argument("--out", help="output folder (default: export.out/<format>)")
    p.add_argument(
        "--tokenized",
        action="store_true",
        help="realsyn-parquet: lower-cased, word-tokenised texts as in the released data",
    )

    p = sub.add_parser("history", help="versions of one table (newest first)")
    _common(p)
    p.add_argument("table")

    p = sub.add_parser(
        "setup",
        help="install offline models (NLTK punkt) and fetch the sample corpus",
    )
    _common(p)
    p.add_argument("--no-sample-corpus", action="store_true", help="skip the sample corpus")
    return parser


def _config(args: argparse.Namespace) -> PipelineConfig:
    return load_config(args.profile, args.overrides)


def _pipeline(config: PipelineConfig, quiet: bool):  # noqa: ANN202
    from realsyn_spark.api import Pipeline
    from realsyn_spark.runner import Progress

    return Pipeline(config, progress=Progress(quiet=quiet))


def _print_rows(columns: list[str], rows: list[list[object]], fmt: str = "table") -> None:
    if fmt == "json":
        for row in rows:
            print(json.dumps(dict(zip(columns, row, strict=True)), default=str))
        return
    if fmt == "csv":
        import csv

        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows(rows)
        return
    cells = [[str(c) for c in columns]] + [
        [("NULL" if v is None else str(v))[:80] for v in row] for row in rows
    ]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    line = "+".join("-" * (w + 2) for w in widths)
    for n, row in enumerate(cells):
        print(" | ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))
        if n == 0:
            print(line)


def cmd_stages(args: argparse.Namespace) -> int:
    from realsyn_spark.stage import ordered_stages

    _config(args)
    rows = [
        [cls.name, ", ".join(cls.inputs) or "(sources)", ", ".join(cls.outputs), cls.description]
        for cls in ordered_stages()
    ]
    _print_rows(["stage", "inputs", "outputs", "what it does"], rows)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from realsyn_spark.stage import ordered_stages

    if args.all == bool(args.stages):
        print("realsyn run: give stage names or --all (not both)", file=sys.stderr)
        return 2
    config = _config(args)
    names = None if args.all else args.stages
    ordered_stages(names)  # unknown names fail here, before Spark starts
    _check_models(config)
    pipeline = _pipeline(config, args.quiet)
    records = pipeline.run(names, force=args.force)
    for record in records:
        print(f"{record.stage}: {record.status}")
    return 0


def _check_models(config: PipelineConfig) -> None:
    """Model names resolve before Spark starts (KeyError -> exit 2 with the known names)."""
    from realsyn_spark.models.causal_lm import resolve_causal_lm
    from realsyn_spark.models.embedders import resolve_embedder

    resolve_causal_lm(config.sentence_semantic.perplexity.model)
    resolve_embedder(config.embedding.model, config.embedding.pretrained)


def cmd_show_config(args: argparse.Namespace) -> int:
    print(config_to_yaml(_config(args)), end="")
    return 0


def cmd_tables(args: argparse.Namespace) -> int:
    pipeline = _pipeline(_config(args), args.quiet)
    rows = [[t["table"], t["version"], t["rows"]] for t in pipeline.tables()]
    if not rows:
        print(f"no tables yet under {pipeline.store.root}; run `realsyn run --all`")
        return 0
    _print_rows(["table", "version", "rows"], rows)
    return 0


def cmd_sql(args: argparse.Namespace) -> int:
    pipeline = _pipeline(_config(args), args.quiet)
    df = pipeline.sql(args.query)
    # The user's query may return a whole table: print at most --limit rows.
    rows = [list(r) for r in df.limit(args.limit).collect()]
    _print_rows(df.columns, rows, args.format)
    return 0


def cmd_funnel(args: argparse.Namespace) -> int:
    from realsyn_spark.funnel import funnel, plot_funnel

    pipeline = _pipeline(_config(args), args.quiet)
    steps = funnel(pipeline.store)
    if not steps:
        print("no finished stages yet; run `realsyn run --all`")
        return 0
    rows = []
    for step in steps:
        reasons = ", ".join(f"{k}={v}" for k, v in sorted(step.rejected_by_reason.items()))
        rows.append(
            [step.chain, step.label, step.rows_in, step.rows_kept, step.rows_rejected, reasons]
        )
    _print_rows(["chain", "step", "in", "kept", "rejected", "rejected by reason"], rows)
    if args.plot:
        plot_funnel(steps, args.plot)
        print(f"chart written to {args.plot}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from realsyn_spark import export

    config = _config(args)
    out = args.out or f"{config.export.out}/{args.format}"
    pipeline = _pipeline(config, args.quiet)
    pairs = pipeline.table("pairs")
    if args.format == "realsyn-parquet":
        rows = export.realsyn_parquet(pairs, out, config.export.rows_per_file, args.tokenized)
        print(f"wrote {rows} pairs to {out} (columns: {', '.join(export.RELEASED_COLUMNS)})")
        return 0
    if args.tokenized:
        print("realsyn export: --tokenized applies to realsyn-parquet only", file=sys.stderr)
        return 2
    shards = export.webdataset(
        pairs,
        pipeline.table("images_deduped"),
        out,
        config.export.samples_per_shard,
        config.export.jpeg_quality,
    )
    total = sum(s[1] for s in shards)
    print(f"wrote {total} samples in {len(shards)} shards to {out}")
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    pipeline = _pipeline(_config(args), args.quiet)
    rows = []
    for entry in pipeline.store.history(args.table):
        rows.append(
            [
                entry.get("version"),
                entry.get("timestamp"),
                entry.get("operation"),
                entry.get("realsyn.stage", entry.get("userMetadata", "")),
                entry.get("realsyn.run_id", ""),
            ]
        )
    _print_rows(["version", "timestamp", "operation", "stage", "run_id"], rows)
    return 0


def cmd_setup(args: argparse.Namespace) -> int:
    from realsyn_spark.models.assets import AssetError, install_gpt2_tokenizer
    from realsyn_spark.punkt_models import install_punkt_tab
    from realsyn_spark.sample_corpus import prepare_sample_corpus

    config = _config(args)
    path = install_punkt_tab(config.ingest.language)
    print(f"NLTK punkt model ({config.ingest.language}): {path}")
    try:
        print(f"GPT-2 tokenizer (tiny test models): {install_gpt2_tokenizer(config.models.dir)}")
    except AssetError as exc:
        # Only the random-weight test/benchmark models need it; say so and go on.
        print(f"warning: {exc}", file=sys.stderr)
    if not args.no_sample_corpus:
        prepare_sample_corpus(config.sample_corpus)
    return 0


COMMANDS = {
    "stages": cmd_stages,
    "run": cmd_run,
    "show-config": cmd_show_config,
    "tables": cmd_tables,
    "sql": cmd_sql,
    "funnel": cmd_funnel,
    "export": cmd_export,
    "history": cmd_history,
    "setup": cmd_setup,
}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except ConfigError as exc:
        print(f"realsyn: config error: {exc}", file=sys.stderr)
        return 2
    except KeyError as exc:
        print(f"realsyn: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        from realsyn_spark.delta_store import TableStoreError
        from realsyn_spark.runner import AccountingError, MissingInputError
        from realsyn_spark.sample_corpus import SampleCorpusError

        known = (
            TableStoreError,
            AccountingError,
            MissingInputError,
            SampleCorpusError,
            FileNotFoundError,
            ValueError,
        )
        if isinstance(exc, known) and not os.environ.get("REALSYN_DEBUG"):
            print(f"realsyn: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
        raise
