"""Model registries and per-worker loaders (imported on executors, inside UDFs)."""
