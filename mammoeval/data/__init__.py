"""Ingest and datasets: source files -> prepared dataset -> image batches for training and scoring."""
