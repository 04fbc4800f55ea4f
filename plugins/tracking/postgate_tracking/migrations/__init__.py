"""Aerich histories of the tracking tables, per dialect (``sqlite/tracking``, ``mysql/tracking``)."""
