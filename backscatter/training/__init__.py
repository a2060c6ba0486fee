"""Datasets, model, training loop, evaluation and export (extra ``train``: needs torch)."""
