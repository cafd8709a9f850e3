"""Import files written for a test: the tests' one way to put a small ledger on disk (CONTRACT.md "Import files")."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from huikuan.ledger.importer import import_files


def write_files(folder: Path, files: Mapping[str, str], *, encoding: str = "utf-8") -> dict[str, Path]:
    """``files`` (kind -> CSV text) written as ``<folder>/<kind>.csv``; kind -> path, as ``import_files`` takes them."""
    paths = {}
    for kind, text in files.items():
        paths[kind] = folder / f"{kind}.csv"
        paths[kind].write_text(text, encoding=encoding)
    return paths


def import_ledger(session: Session, folder: Path, files: Mapping[str, str]) -> Session:
    """``files`` written to ``folder``, imported into ``session`` and committed: a test's small ledger. Returns ``session``."""
    import_files(session, write_files(folder, files))
    session.commit()
    return session


def import_into(engine: Engine, folder: Path, files: Mapping[str, str]) -> Engine:
    """``files`` written to ``folder`` and imported into ``engine``'s ledger in one transaction. Returns ``engine``."""
    with Session(engine) as session, session.begin():
        import_files(session, write_files(folder, files))
    return engine
