"""Postgate benchmarks: ``python -m bench`` (see README.md)."""
