"""The legal side as deployments: the lawyer's case file, and a posted letter's proof of delivery.

``prepare-case``: trigger: a person (the Run form), or the approval of a
lawyer's letter (``request-approval`` starts it once per letter). Effects: the
case file under ``<data dir>/cases`` (a folder and its ZIP) and a table artifact
of its files with their SHA-256; the ledger is not changed.

``record-letter-delivery``: trigger: a person, when the courier's receipt for a
posted letter comes back. Effects: the delivery record; the letter restarts the
limitation period of the debts it demanded from that day.
"""

from __future__ import annotations

import datetime as dt

from prefect import flow

from huikuan.ledger.settings import get_settings
from tasks.legal import record_delivery, write_case


@flow(name="prepare-case", flow_run_name="case {customer_id}")
def prepare_case(customer_id: str, as_of: dt.date | None = None) -> str:
    """Write the case file a lawyer asks for: summary, invoices, charges, statements, demands with their evidence, contacts, payments.

    Args:
        customer_id: the customer's id.
        as_of: the day the amounts and dates are counted to (default: today).
    """
    return write_case(customer_id, as_of or get_settings().today())


@flow(name="record-letter-delivery", flow_run_name="{key} delivered")
def record_letter_delivery(key: str, tracking_no: str, delivered_on: dt.date | None = None, courier: str = "") -> str:
    """A posted letter reached the customer (送达凭证): the courier's tracking number and the day it was signed for.

    Args:
        key: the letter's key, as the plan or the case file's documents.csv shows it.
        tracking_no: the courier's tracking number (快递单号).
        delivered_on: the day it was signed for (default: today).
        courier: the courier, e.g. 顺丰 or EMS.
    """
    return record_delivery(key, tracking_no, delivered_on or get_settings().today(), courier or None)
