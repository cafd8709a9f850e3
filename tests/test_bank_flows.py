"""The bank deployments' flows under Prefect's test harness: import a statement, see the waiting lines, match one."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from huikuan.ledger.db import session_scope
from models.enums import BankLineState
from models.ledger import BankLine
from tests.test_bank_cash import gbk_csv
from tests.test_bank_cli import import_the_ledger


@pytest.fixture
def ledger(cli_env):
    """The ledger of tests/test_bank_cash.py, through ``huikuan import``."""
    import_the_ledger(cli_env)
    return cli_env


def test_import_then_match_as_forms(ledger, prefect):
    from prefect.client.orchestration import get_client

    from flows.bank import import_statement, match_bank_line

    path = str(gbk_csv(ledger / "stmt.csv"))
    assert import_statement(path).endswith("4 applied, 3 waiting for finance")
    assert import_statement(path, format="csv").endswith("0 applied, 3 waiting for finance")  # a rerun changes nothing
    done = match_bank_line("TX005", "C5", invoices="NF-2", by="fin")
    assert done == "bank line TX005 of 600.00 applied to C5: NF-2 600.00"
    with session_scope() as session:
        line = session.scalar(select(BankLine).where(BankLine.transaction_id == "TX005"))
        assert (line.state, line.decided_by) == (BankLineState.applied, "fin")
    with pytest.raises(Exception, match="already applied to C5"):
        match_bank_line("TX005", "C5")

    async def latest():
        async with get_client() as client:
            return await client.read_latest_artifacts()

    import asyncio

    artifacts = {a.key: a for a in asyncio.run(latest())}
    waiting = artifacts["bank-lines-waiting"]
    assert waiting.description.startswith("2 bank line(s) waiting for finance")
    assert "TX004" in str(waiting.data) and "TX005" not in str(waiting.data)


def test_the_daily_runs_summary_says_how_many_bank_lines_wait(ledger, prefect):
    import datetime as dt

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    from flows.bank import import_statement, match_bank_line
    from flows.daily_collection import daily_collection
    from huikuan.ledger.company import EXAMPLE, company_from

    (ledger / "company.yaml").write_text(EXAMPLE, encoding="utf-8")
    company_from.cache_clear()

    def summary() -> str:
        with get_client(sync_client=True) as client:
            found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["daily-collection"])), sort=ArtifactSort.CREATED_DESC)
        return found[0].description

    try:
        none_yet = daily_collection(as_of=dt.date(2026, 11, 27))
        assert "bank lines waiting" not in none_yet and "bank line" not in summary()
        import_statement(str(gbk_csv(ledger / "stmt.csv")))
        # An over-payment matched in the form: the invoice paid, the rest kept as the customer's credit.
        assert match_bank_line("TX007", "C4", by="fin") == "bank line TX007 of 999.00 applied to C4: XC4-01 100.00; 899.00 kept as unapplied credit"
        result = daily_collection(as_of=dt.date(2026, 11, 30))
        assert result["bank lines waiting"] == 2 and result["bank review"] == "huikuan bank review"
        assert summary().endswith("2 bank line(s) waiting for finance: `huikuan bank review`")
    finally:
        company_from.cache_clear()
