"""trackflow pipelines: sources, ingest, lake I/O, configuration and the CLI."""
