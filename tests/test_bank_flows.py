"""The bank deployments' flows under Prefect's test harness: import a statement, see the waiting lines, match one."""

from __future__ import annotations

import pytest
from prefect.testing.utilities import prefect_test_harness
from sqlalchemy import select

from huikuan.db import session_scope
from models.enums import BankLineState
from models.ledger import BankLine
from tests.test_bank_cash import gbk_csv
from tests.test_bank_cli import ledger  # noqa: F401 - the fixture: the ledger of tests/test_bank_cash.py, through `huikuan import`


@pytest.fixture(scope="module")
def prefect():
    with prefect_test_harness(server_startup_timeout=120):
        yield


def test_import_then_match_as_forms(ledger, prefect):  # noqa: F811
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
