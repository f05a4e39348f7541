"""realsyn_spark: the RealSyn data-curation pipeline on Spark and Delta Lake."""

__version__ = "0.1.0"
