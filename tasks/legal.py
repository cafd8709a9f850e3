"""Tasks of the legal side: the lawyer's case file, a posted letter's delivery, the case run after a lawyer's letter."""

from __future__ import annotations

import datetime as dt

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectNotFound

from huikuan.documents.escaping import artifact_key, markdown_text
from huikuan.ledger.context import run_context
from huikuan.ledger.db import session_scope
from huikuan.ledger.records import get_customer
from huikuan.ledger.settings import get_settings
from huikuan.legal.case_file import write_case_file
from huikuan.legal.delivery import record_letter_delivery
from huikuan.legal.standing import standing_of
from models.money import format_money
from tasks import SERVER_TIMEOUT

CASE_DEPLOYMENT = "prepare-case/prepare-case"


@task(cache_policy=NO_CACHE, task_run_name="case file of {customer_id}")
def write_case(customer_id: str, as_of: dt.date) -> str:
    """Write the customer's case file under ``<data dir>/cases`` and show its index as an artifact; the folder's path."""
    context = run_context()
    with session_scope() as session:
        standing = standing_of(session, customer_id, as_of, context)
        customer = get_customer(session, customer_id)
        case = write_case_file(
            session,
            standing,
            customer,
            company_name=context.company.name if context.company else "",
            zone=get_settings().tz,
            out=get_settings().data_dir / "cases",
        )
        money = lambda amount: format_money(amount, customer.currency)  # noqa: E731
        first = standing.first_expiry
        lines = [
            f"# Case file: {markdown_text(customer.name)} ({markdown_text(customer_id)}), {as_of.isoformat()}",
            "",
            f"Principal {money(standing.open_total)}, charge {money(standing.charge_total)}, claim {money(standing.claim_total)}."
            + (f" First limitation date {first.limitation.expires_on.isoformat()} ({markdown_text(first.invoice_id)})." if first else ""),
            "",
            f"Folder `{case.folder}`, ZIP `{case.archive}`.",
            "",
            "| file | what | SHA-256 |",
            "|---|---|---|",
            *(f"| {markdown_text(path)} | {markdown_text(what)} | `{digest}` |" for path, what, digest in case.files),
        ]
    create_markdown_artifact("\n".join(lines), key=f"case-{artifact_key(customer_id)}", description=f"case file of {customer_id}")
    return str(case.folder)


@task(cache_policy=NO_CACHE, task_run_name="letter {key} delivered")
def record_delivery(key: str, tracking_no: str, delivered_on: dt.date, courier: str | None) -> str:
    with session_scope() as session:
        delivery, new = record_letter_delivery(session, key, tracking_no=tracking_no, delivered_on=delivered_on, today=get_settings().today(), courier=courier)
        return f"{'recorded' if new else 'already recorded'}: {delivery.document_key} delivered on {delivery.delivered_on}"


@task(cache_policy=NO_CACHE, task_run_name="start the case run of {customer_id}", timeout_seconds=SERVER_TIMEOUT)
def start_case_run(customer_id: str, as_of: dt.date, cause: str) -> str | None:
    """Start ``prepare-case`` for the customer once per ``cause`` (the approved lawyer's letter); None without the deployment."""
    try:
        run = run_deployment(
            CASE_DEPLOYMENT,
            parameters={"customer_id": customer_id, "as_of": as_of.isoformat()},
            timeout=0,
            as_subflow=False,
            idempotency_key=f"case:{cause}",
            flow_run_name=f"{customer_id} after {cause}",
        )
    except ObjectNotFound:
        get_run_logger().warning("no %s deployment: the case file of %s is not prepared (huikuan case %s)", CASE_DEPLOYMENT, customer_id, customer_id)
        return None
    return str(run.id)
