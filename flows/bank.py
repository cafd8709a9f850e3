"""Cash application as deployments: the bank's statement imported, and a waiting line matched by finance.

``import-bank-statement``: trigger: finance (the Run form), with the statement
saved on the worker's machine. Effects: the statement's new lines stored once
(importing it again changes nothing); every line whose customer and invoices are
certain recorded as a payment, as ``record-payment`` records one; a table
artifact ``bank-lines-waiting`` of the lines left for finance.

``match-bank-line``: trigger: finance, for a line of that artifact. Effects: the
line recorded as the customer's payment (to the invoices named, else oldest
first) and the payer's account remembered for the customer; the artifact anew.

``apply-credit``: trigger: finance, for a customer holding unapplied credit (an
over-payment kept). Effects: the credit applied to its open invoices (the ones
named, else oldest first) as payments, as ``huikuan bank apply-credit`` does.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from prefect import flow

from huikuan.ledger.settings import get_settings
from models.import_rows import id_list
from tasks.bank import apply_unapplied_credit, import_bank_statement, publish_waiting
from tasks.bank import match_bank_line as match_line_task


@flow(name="import-bank-statement", flow_run_name="bank statement {path}")
def import_statement(path: str, format: Literal["auto", "csv", "xlsx", "camt053", "mt940"] = "auto", on: dt.date | None = None) -> str:
    """Import the bank's statement of the company's account: certain lines become payments, the others wait for finance.

    Args:
        path: the statement file on the worker's machine (CSV or XLSX export, camt.053, MT940).
        format: the file's format (auto: from its content).
        on: the day of the import (default: today).
    """
    done = import_bank_statement(path, format, on or get_settings().today())
    publish_waiting()
    return done


@flow(name="match-bank-line", flow_run_name="bank line {line} to {customer_id}")
def match_bank_line(line: str, customer_id: str, invoices: str = "", by: str = "finance", on: dt.date | None = None) -> str:
    """Apply a bank line waiting for finance to the customer who paid; the payer's account is remembered for that customer.

    Args:
        line: the line's transaction id (流水号), or L<number> as the waiting list shows it.
        customer_id: the customer who paid.
        invoices: the invoices it pays, joined by ';' (default: the oldest open ones first).
        by: who decides (kept with the line).
        on: the day of the decision (default: today).
    """
    done = match_line_task(line, customer_id, id_list(invoices), on or get_settings().today(), by)
    publish_waiting()
    return done


@flow(name="apply-credit", flow_run_name="credit of {customer_id} applied")
def apply_credit(customer_id: str, invoices: str = "", by: str = "finance", on: dt.date | None = None) -> str:
    """Apply a customer's unapplied credit (money received beyond the invoices it paid) to its open invoices, as far as it goes.

    Args:
        customer_id: the customer whose unapplied credit is applied.
        invoices: the invoices it pays, joined by ';' (default: the oldest open ones first).
        by: who decides (kept with the credit).
        on: the day of the decision (default: today).
    """
    return apply_unapplied_credit(customer_id, id_list(invoices), on or get_settings().today(), by)
