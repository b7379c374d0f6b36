"""Caching answers: the result cache seam (``protocol.py``) and its implementations."""
