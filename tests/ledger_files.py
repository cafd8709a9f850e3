"""Import files written for a test: the tests' one way to put a small ledger on disk (CONTRACT.md "Import files")."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path


def write_files(folder: Path, files: Mapping[str, str], *, encoding: str = "utf-8") -> dict[str, Path]:
    """``files`` (kind -> CSV text) written as ``<folder>/<kind>.csv``; kind -> path, as ``import_files`` takes them."""
    paths = {}
    for kind, text in files.items():
        paths[kind] = folder / f"{kind}.csv"
        paths[kind].write_text(text, encoding=encoding)
    return paths
