"""The read side: runs, lineage and reports read back from ML Metadata, and how to reach a store
(SQLite, MySQL, a gRPC service). Nothing here changes a store; `python -m pipeline.metadata` is
its command line. The pipeline definition (pipeline/pipeline.py, config.py) never imports it."""
