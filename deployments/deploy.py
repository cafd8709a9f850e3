"""Every flow as a deployment on a process work pool: the schedules, and the forms people fill in.

The scheduled runs follow the company's clock (``HUIKUAN_TIMEZONE``): the
daily collection every morning, the statement cycle on its deadlines (the 5th,
8th, 20th and 30th, and February's last day, which stands in for the 30th), and
the management report on the 1st.
Everything else runs on demand: from its form in the Prefect UI, through the
API, or started by another flow (``request-approval``). Each deployment is
named after its flow, so ``request-approval/request-approval`` is what
``tasks/approvals.py`` starts.

Where flow runs work: ``build_deployments`` and ``deploy_all`` pin
``working_dir``; ``huikuan start``, ``huikuan server`` and ``huikuan worker``
(``huikuan.stack``) replace that with a pull step that enters the directory of
the worker running the flow (``HUIKUAN_WORK_DIR``), so that each worker machine
keeps its own files and a relative ledger path, company file or outbox means
the same to the flows as to the ``huikuan`` command there. The code comes from
the installed ``flows`` package (module entrypoints), not from that directory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID

from prefect.client.schemas.schedules import CronSchedule
from prefect.deployments.runner import RunnerDeployment
from prefect.runner.storage import LocalStorage

from huikuan.ledger.settings import get_settings

WORK_POOL = "huikuan"
DAILY_AT = "30 8 * * *"  # after the statement cycle's 08:00 run on its days
STATEMENT_DAYS = ("0 8 5,8,20,30 * *", "0 8 L 2 *")  # February has no 30th: its last day instead
MONTHLY_REPORT_AT = "0 7 1 * *"  # the 1st, before the day's collection: last month's figures


@dataclass(frozen=True)
class Definition:
    """One deployment: the flow's entrypoint (module path), its tags, its cron schedules."""

    entrypoint: str
    flow_name: str
    tags: tuple[str, ...]
    crons: tuple[str, ...] = ()
    schedule_note: str = field(default="on demand: the Run form in the UI, or the API")

    @property
    def name(self) -> str:
        return self.flow_name

    @property
    def full_name(self) -> str:
        return f"{self.flow_name}/{self.name}"


DEFINITIONS: tuple[Definition, ...] = (
    Definition("flows.daily_collection.daily_collection", "daily-collection", ("collection", "scheduled"), (DAILY_AT,), "daily at 08:30"),
    Definition(
        "flows.statement_cycle.statement_cycle",
        "statement-cycle",
        ("statement", "scheduled"),
        STATEMENT_DAYS,
        "08:00 on the 5th, 8th, 20th, 30th and February's last day",
    ),
    Definition("flows.management_report.management_report", "management-report", ("report", "scheduled"), (MONTHLY_REPORT_AT,), "07:00 on the 1st"),
    Definition("flows.collect_account.collect_account", "collect-account", ("collection", "form")),
    Definition(
        "flows.collect_batch.collect_batch_of_accounts",
        "collect-batch",
        ("collection",),
        schedule_note="started by the daily collection for each batch when it spreads them over the workers",
    ),
    Definition(
        "flows.approval.request_approval", "request-approval", ("approval",), schedule_note="started by the collection for each decision; answered in the UI"
    ),
    Definition(
        "flows.approval.request_group_approval",
        "request-group-approval",
        ("approval",),
        schedule_note="started by the collection for each day's list of requests asked together (statement reviews); answered in the UI",
    ),
    Definition("flows.shipping.shipping_check", "shipping-check", ("shipping", "form")),
    Definition("flows.recording.record_contact", "record-contact", ("record", "form", "collection")),
    Definition("flows.recording.record_promise", "record-promise", ("record", "form", "collection")),
    Definition("flows.recording.record_dispute", "record-dispute", ("record", "form", "collection")),
    Definition("flows.recording.confirm_statement", "confirm-statement", ("record", "form", "statement")),
    Definition("flows.recording.record_invoice", "record-invoice", ("record", "form", "statement")),
    Definition("flows.recording.record_payment", "record-payment", ("record", "form", "payment")),
    Definition("flows.recording.record_bounced_email", "record-bounced-email", ("record", "form", "collection")),
    Definition("flows.bank.import_statement", "import-bank-statement", ("bank", "form", "payment")),
    Definition("flows.bank.match_bank_line", "match-bank-line", ("bank", "form", "payment")),
    Definition("flows.bank.apply_credit", "apply-credit", ("bank", "form", "payment")),
    Definition("flows.legal.record_letter_delivery", "record-letter-delivery", ("record", "form", "legal")),
    Definition(
        "flows.legal.prepare_case",
        "prepare-case",
        ("legal", "form"),
        schedule_note="on demand (the Run form), and started when the boss approves a lawyer's letter",
    ),
)


def build_deployments(work_pool: str = WORK_POOL, timezone: str | None = None, working_dir: Path | None = None) -> list[RunnerDeployment]:
    """The deployment objects, without touching a server: each entrypoint is imported and checked.

    Args:
        work_pool: the process work pool the runs go to.
        timezone: the schedules' time zone (default: the company's, from the settings).
        working_dir: where flow runs work (default: the current directory).

    Raises:
        ValueError: an entrypoint's flow is not the flow it should be (renamed?).
    """
    timezone = timezone or get_settings().timezone
    storage = LocalStorage(str((working_dir or Path.cwd()).resolve()))
    deployments = []
    for definition in DEFINITIONS:
        deployment = RunnerDeployment.from_storage(
            storage=storage,
            entrypoint=definition.entrypoint,
            name=definition.name,
            work_pool_name=work_pool,
            schedules=[CronSchedule(cron=cron, timezone=timezone) for cron in definition.crons],
            paused=False,
            tags=["huikuan", *definition.tags],
        )
        # The deployment page shows the flow function's docstring (what it does, its Args); Prefect takes it as the
        # flow's description. The module's docstring says when it runs and what it changes, for readers of the code.
        if deployment.flow_name != definition.flow_name:
            raise ValueError(f"{definition.entrypoint} is the flow {deployment.flow_name!r}, not {definition.flow_name!r}: was it renamed?")
        deployments.append(deployment)
    return deployments


def deploy_all(work_pool: str = WORK_POOL, timezone: str | None = None, working_dir: Path | None = None) -> dict[str, UUID]:
    """Create or update every deployment on the API in the current Prefect settings; none is left paused.

    The work pool must exist (``huikuan.stack`` creates it). Returns the
    deployment ids by full name (``flow/deployment``).
    """
    return {f"{d.flow_name}/{d.name}": d.apply(work_pool_name=work_pool) for d in build_deployments(work_pool, timezone, working_dir)}


if __name__ == "__main__":
    for full_name, deployment_id in deploy_all().items():
        print(full_name, deployment_id)
