"""Declared schemas of every pipeline table.

Stages write exactly these schemas; the table store refuses anything else, so a change of
schema is a code change reviewed here rather than drift discovered in production.
"""

from __future__ import annotations

from pyspark.sql import types as T

REJECTS_SCHEMA = T.StructType(
    [
        T.StructField("stage", T.StringType()),
        # What was rejected: document, image, sentence, ...
        T.StructField("entity", T.StringType()),
        # Id of the rejected record when it has one (image ref, sentence id, doc id).
        T.StructField("record_id", T.StringType()),
        T.StructField("doc_id", T.StringType()),
        T.StructField("position", T.IntegerType()),
        T.StructField("reason", T.StringType()),
        T.StructField("detail", T.StringType()),
        # Where the record came from (file, URL), for debugging.
        T.StructField("source", T.StringType()),
    ]
)

DOCUMENTS_SCHEMA = T.StructType(
    [
        T.StructField("doc_id", T.StringType()),
        T.StructField("source", T.StringType()),
        T.StructField("source_uri", T.StringType()),
        T.StructField("url", T.StringType()),
        # OBELICS layout: parallel lists, exactly one of texts[i] / images[i] is set.
        T.StructField("texts", T.ArrayType(T.StringType())),
        T.StructField("images", T.ArrayType(T.StringType())),
        T.StructField("metadata", T.StringType()),
        T.StructField("general_metadata", T.StringType()),
        T.StructField("num_texts", T.IntegerType()),
        T.StructField("num_images", T.IntegerType()),
    ]
)

IMAGES_SCHEMA = T.StructType(
    [
        # sha256 of the image bytes (hex, first 32 chars); one row per occurrence.
        T.StructField("image_id", T.StringType()),
        T.StructField("doc_id", T.StringType()),
        T.StructField("position", T.IntegerType()),
        T.StructField("source_url", T.StringType()),
        T.StructField("bytes", T.BinaryType()),
        T.StructField("num_bytes", T.LongType()),
        T.StructField("width", T.IntegerType()),
        T.StructField("height", T.IntegerType()),
        T.StructField("format", T.StringType()),
    ]
)

SENTENCES_SCHEMA = T.StructType(
    [
        T.StructField("sentence_id", T.StringType()),
        T.StructField("doc_id", T.StringType()),
        # Index of the text block in the document, then of the sentence inside it.
        T.StructField("position", T.IntegerType()),
        T.StructField("sentence_index", T.IntegerType()),
        T.StructField("text", T.StringType()),
    ]
)

IMAGES_FILTERED_SCHEMA = T.StructType(
    [*IMAGES_SCHEMA.fields, T.StructField("mode", T.StringType())]  # Pillow mode: RGB, P, CMYK...
)

IMAGES_UNIQUE_SCHEMA = T.StructType(
    [
        *IMAGES_FILTERED_SCHEMA.fields,
        T.StructField("phash", T.LongType()),
        # Lineage: every occurrence this image stands for (itself and its duplicates).
        T.StructField("num_occurrences", T.LongType()),
        T.StructField("doc_ids", T.ArrayType(T.StringType())),
    ]
)

IMAGE_DUPLICATES_SCHEMA = T.StructType(
    [
        T.StructField("image_id", T.StringType()),
        T.StructField("doc_id", T.StringType()),
        T.StructField("position", T.IntegerType()),
        T.StructField("source_url", T.StringType()),
        # The kept image this occurrence collapses to.
        T.StructField("representative_id", T.StringType()),
        # exact (same bytes) | perceptual (phash within the distance) | semantic
        T.StructField("method", T.StringType()),
        T.StructField("distance", T.DoubleType()),
    ]
)

_SENTENCE_BASE = [
    T.StructField("sentence_id", T.StringType()),
    T.StructField("doc_id", T.StringType()),
    T.StructField("position", T.IntegerType()),
    T.StructField("sentence_index", T.IntegerType()),
    T.StructField("text", T.StringType()),
]

SENTENCES_QUALITY_SCHEMA = T.StructType(
    [
        *_SENTENCE_BASE,
        T.StructField("num_words", T.IntegerType()),
        T.StructField("cat_complexity", T.IntegerType()),
        T.StructField("cat_actions", T.IntegerType()),
    ]
)

SENTENCES_SEMANTIC_SCHEMA = T.StructType(
    [
        *SENTENCES_QUALITY_SCHEMA.fields,
        T.StructField("entropy", T.DoubleType()),
        T.StructField("perplexity", T.DoubleType()),
    ]
)

SENTENCES_UNIQUE_SCHEMA = T.StructType(
    [
        *SENTENCES_SEMANTIC_SCHEMA.fields,
        T.StructField("num_occurrences", T.LongType()),
        T.StructField("doc_ids", T.ArrayType(T.StringType())),
    ]
)

SENTENCE_DUPLICATES_SCHEMA = T.StructType(
    [
        T.StructField("sentence_id", T.StringType()),
        T.StructField("doc_id", T.StringType()),
        T.StructField("representative_id", T.StringType()),
        T.StructField("method", T.StringType()),
        T.StructField("distance", T.DoubleType()),
    ]
)

WORD_FREQUENCIES_SCHEMA = T.StructType(
    [
        T.StructField("word", T.StringType()),
        T.StructField("count", T.LongType()),
        T.StructField("probability", T.DoubleType()),
    ]
)

EMBEDDINGS_SCHEMA = T.StructType(
    [
        T.StructField("id", T.StringType()),
        T.StructField("model", T.StringType()),
        # L2-normalised float32 vector.
        T.StructField("embedding", T.ArrayType(T.FloatType())),
    ]
)

TEXT_CLUSTERS_SCHEMA = T.StructType(
    [
        T.StructField("cluster_id", T.IntegerType()),
        T.StructField("centroid", T.ArrayType(T.FloatType())),
        T.StructField("num_sentences", T.LongType()),
        # Two-level k-means: the coarse cell (IVF list) the centroid belongs to, else null.
        T.StructField("coarse_cell", T.IntegerType()),
    ]
)

SENTENCE_CLUSTERS_SCHEMA = T.StructType(
    [
        T.StructField("sentence_id", T.StringType()),
        T.StructField("cluster_id", T.IntegerType()),
        T.StructField("similarity", T.DoubleType()),
    ]
)

RETRIEVALS_SCHEMA = T.StructType(
    [
        T.StructField("image_id", T.StringType()),
        T.StructField("rank", T.IntegerType()),
        T.StructField("sentence_id", T.StringType()),
        T.StructField("score", T.DoubleType()),
        T.StructField("cluster_id", T.IntegerType()),
        # The document the sentence came from (any document of the corpus).
        T.StructField("doc_id", T.StringType()),
    ]
)

PAIRS_SCHEMA = T.StructType(
    [
        T.StructField("image_id", T.StringType()),
        T.StructField("image_url", T.StringType()),
        T.StructField("image_doc_id", T.StringType()),
        *[
            T.StructField(f"text{i}{suffix}", dtype)
            for i in (1, 2, 3)
            for suffix, dtype in (
                ("", T.StringType()),
                ("_score", T.DoubleType()),
                ("_doc_id", T.StringType()),
                ("_sentence_id", T.StringType()),
            )
        ],
        # Filled by the generation stage (LLM fusion of text1, caption and tags).
        T.StructField("syn_text", T.StringType()),
    ]
)

ACCOUNTING_TYPE = T.StructType(
    [
        T.StructField("entity", T.StringType()),
        T.StructField("rows_in", T.LongType()),
        T.StructField("rows_kept", T.LongType()),
        T.StructField("rows_rejected", T.LongType()),
        T.StructField("rejected_by_reason", T.MapType(T.StringType(), T.LongType())),
    ]
)

RUNS_SCHEMA = T.StructType(
    [
        T.StructField("run_id", T.StringType()),
        T.StructField("stage", T.StringType()),
        T.StructField("status", T.StringType()),
        T.StructField("config_hash", T.StringType()),
        T.StructField("input_versions", T.MapType(T.StringType(), T.LongType())),
        T.StructField("input_fingerprint", T.StringType()),
        T.StructField("output_versions", T.MapType(T.StringType(), T.LongType())),
        T.StructField("output_rows", T.MapType(T.StringType(), T.LongType())),
        T.StructField("accounting", T.ArrayType(ACCOUNTING_TYPE)),
        T.StructField("started_at", T.TimestampType()),
        T.StructField("duration_s", T.DoubleType()),
        T.StructField("package_version", T.StringType()),
        T.StructField("message", T.StringType()),
    ]
)

# Table name -> declared schema. ``<stage>_rejects`` tables share REJECTS_SCHEMA.
TABLE_SCHEMAS: dict[str, T.StructType] = {
    "documents": DOCUMENTS_SCHEMA,
    "images": IMAGES_SCHEMA,
    "sentences": SENTENCES_SCHEMA,
    "runs": RUNS_SCHEMA,
    "images_filtered": IMAGES_FILTERED_SCHEMA,
    "images_unique": IMAGES_UNIQUE_SCHEMA,
    "image_duplicates": IMAGE_DUPLICATES_SCHEMA,
    "sentences_quality": SENTENCES_QUALITY_SCHEMA,
    "sentences_semantic": SENTENCES_SEMANTIC_SCHEMA,
    "word_frequencies": WORD_FREQUENCIES_SCHEMA,
    "sentences_unique": SENTENCES_UNIQUE_SCHEMA,
    "sentence_duplicates": SENTENCE_DUPLICATES_SCHEMA,
    "image_embeddings": EMBEDDINGS_SCHEMA,
    "sentence_embeddings": EMBEDDINGS_SCHEMA,
    "images_deduped": IMAGES_UNIQUE_SCHEMA,
    "sentences_deduped": SENTENCES_UNIQUE_SCHEMA,
    "image_semantic_duplicates": IMAGE_DUPLICATES_SCHEMA,
    "sentence_semantic_duplicates": SENTENCE_DUPLICATES_SCHEMA,
    "text_clusters": TEXT_CLUSTERS_SCHEMA,
    "sentence_clusters": SENTENCE_CLUSTERS_SCHEMA,
    "retrievals": RETRIEVALS_SCHEMA,
    "pairs": PAIRS_SCHEMA,
}


def schema_for(table: str) -> T.StructType | None:
    if table.endswith("_rejects"):
        return REJECTS_SCHEMA
    return TABLE_SCHEMAS.get(table)


def describe_schema_difference(expected: T.StructType, actual: T.StructType) -> str:
    """Human-readable difference, for schema-drift errors."""
    exp = {f.name: f.dataType.simpleString() for f in expected.fields}
    act = {f.name: f.dataType.simpleString() for f in actual.fields}
    parts = []
    missing = [n for n in exp if n not in act]
    extra = [n for n in act if n not in exp]
    changed = [f"{n}: {exp[n]} -> {act[n]}" for n in exp if n in act and exp[n] != act[n]]
    if missing:
        parts.append(f"missing columns {missing}")
    if extra:
        parts.append(f"extra columns {extra}")
    if changed:
        parts.append(f"changed types {changed}")
    if not parts and list(exp) != list(act):
        parts.append(f"column order {list(exp)} vs {list(act)}")
    return "; ".join(parts) or "no difference"
