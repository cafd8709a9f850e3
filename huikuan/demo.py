"""Load the demo portfolio: generate import files, import them, replay the events.

The demo goes through the real importer (so it shows what a company's own files
would do) and records its promises, disputes and contacts through the same
functions as the CLI.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from huikuan.demo_data import DemoFiles, generate_demo
from huikuan.importer import ImportSummary, Track, no_tracking, import_files
from huikuan.records import log_contact, open_dispute, record_promise, resolve_dispute
from models.ledger import Customer


@dataclass
class DemoLoad:
    files: DemoFiles
    summary: ImportSummary
    events: int


def ledger_is_empty(session: Session) -> bool:
    return session.scalar(select(func.count()).select_from(Customer)) == 0


def load_demo(session: Session, out_dir: Path, *, customers: int, as_of: dt.date, seed: int = 2026, track: Track = no_tracking) -> DemoLoad:
    """Generate a demo portfolio of ``customers`` as of ``as_of`` and load it into an empty ledger."""
    if not ledger_is_empty(session):
        raise ValueError("the ledger already has customers; the demo loads only into an empty ledger")
    files = generate_demo(out_dir, customers=customers, as_of=as_of, seed=seed)
    summary = import_files(
        session,
        {"customers": files.customers, "invoices": files.invoices, "payments": files.payments, "charges": files.charges},
        track=track,
    )
    lines = files.events.read_text(encoding="utf-8").splitlines()
    for line in track(lines, "recording promises, disputes, contacts"):
        replay_event(session, json.loads(line))
    return DemoLoad(files, summary, len(lines))


def replay_event(session: Session, event: dict) -> None:
    """Record one event of the demo's events.jsonl through the ledger's recording functions."""
    on = dt.date.fromisoformat(event["on"])
    kind = event["kind"]
    if kind == "contact":
        log_contact(session, event["customer_id"], channel=event["channel"], result=event["result"], on=on, note=event.get("note"), excuse=event.get("excuse"))
    elif kind == "promise":
        record_promise(session, event["customer_id"], amount=Decimal(event["amount"]), by=dt.date.fromisoformat(event["by"]), on=on, invoices=event.get("invoices") or ())
    elif kind == "dispute_open":
        open_dispute(session, event["invoice_id"], reason=event["reason"], on=on)
    elif kind == "dispute_resolve":
        resolve_dispute(session, event["invoice_id"], on=on)
    else:
        raise ValueError(f"unknown demo event kind {kind!r}")
