"""The store: a MIMIC-IV copy (or the synthetic default) ingested once into DuckDB."""

from medbench.store.ingest import Store, ingest, open_store, resolve_mimic_dir

__all__ = ["Store", "ingest", "open_store", "resolve_mimic_dir"]
