"""Prefect flows: orchestration only, one public flow per module; each takes ``as_of``."""
