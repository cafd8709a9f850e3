"""Issue #15: `huikuan demo` writes a bank statement of its own customers' payments, for the user to import and review."""

from __future__ import annotations

import datetime as dt
import shlex
from collections import Counter

from sqlalchemy import func, select
from typer.testing import CliRunner

from huikuan.bank.cash import import_statement
from huikuan.bank.matching import normal_name
from huikuan.cli import app
from huikuan.demo.load import BANK_STATEMENT_FILE, load_demo
from huikuan.ledger.db import engine_for, session_scope
from huikuan.ledger.settings import get_settings
from models.enums import BankLineState
from models.ledger import Allocation, BankLine, BankLinePayment, Customer, Payment

AS_OF = dt.date(2026, 11, 22)


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def test_the_demo_writes_a_gbk_statement_that_imports_where_certain_and_waits_where_not(tmp_path, session):
    loaded = load_demo(session, tmp_path / "demo", customers=80, as_of=AS_OF)
    session.commit()
    path, lines = loaded.bank_statement, loaded.bank_lines
    assert path == tmp_path / "demo" / BANK_STATEMENT_FILE
    text = path.read_bytes().decode("gbk")  # as a Chinese bank exports it
    assert "交易日期" in text and "对方户名" in text and "贷方金额" in text
    # Not applied by the demo: the user imports it.
    assert count(session, BankLine) == 0

    names = dict(session.execute(select(Customer.customer_id, Customer.name)).all())
    incoming = [line for line in lines if line.credit]
    paid = [line for line in incoming if line.paid_by]
    assert all(line.paid_by in names for line in paid)
    assert all(AS_OF - dt.timedelta(days=14) <= line.booked_on < AS_OF for line in lines)
    variants = [line for line in paid if line.payer != names[line.paid_by] and normal_name(line.payer) == normal_name(names[line.paid_by])]
    assert any(" " in line.payer or "\u3000" in line.payer for line in variants)  # spaced as the bank prints it
    assert any("(" in line.payer for line in paid)  # half-width brackets
    assert any(not line.purpose for line in paid) and any(line.purpose for line in paid)  # missing and given references
    assert any(line.memo == "部分货款" for line in paid)  # a part payment
    assert any(line.paid_by is None for line in incoming)  # strangers

    truth = {line.transaction_id: line.paid_by for line in lines}
    payments_before = count(session, Payment)
    result = import_statement(session, path, on=AS_OF)
    session.commit()
    assert result.incoming == len(incoming) and result.new == len(incoming)
    assert len(result.applied) >= len(incoming) // 2
    assert result.waiting > 0
    assert [line.transaction_id for line in result.applied if line.customer_id != truth[line.transaction_id]] == []
    # A combined payment: one transfer applied to two invoices.
    per_line = Counter(
        line_id
        for line_id, _invoice in session.execute(
            select(BankLinePayment.line_id, Allocation.invoice_id).join(Allocation, Allocation.payment_id == BankLinePayment.payment_id)
        ).all()
    )
    assert max(per_line.values()) >= 2
    # Strangers and part payments wait.
    waiting = {line.transaction_id for line in session.scalars(select(BankLine).where(BankLine.state == BankLineState.waiting))}
    assert {line.transaction_id for line in incoming if line.paid_by is None} <= waiting
    assert {line.transaction_id for line in incoming if line.memo == "部分货款"} & waiting
    payments_after = count(session, Payment)
    assert payments_after > payments_before

    again = import_statement(session, path, on=AS_OF)
    session.commit()
    assert (again.new, again.known, len(again.applied), again.waiting) == (0, len(incoming), 0, result.waiting)
    assert count(session, Payment) == payments_after


def test_the_same_demo_writes_the_same_statement(tmp_path, sqlite_engine):
    from sqlalchemy.orm import Session

    with Session(sqlite_engine) as session:
        first = load_demo(session, tmp_path / "one", customers=30, as_of=AS_OF).bank_statement.read_bytes()
        session.rollback()
        second = load_demo(session, tmp_path / "two", customers=30, as_of=AS_OF).bank_statement.read_bytes()
    assert first == second and first


def test_demo_prints_the_statement_and_the_import_command_that_works(tmp_path, monkeypatch):
    monkeypatch.setenv("HUIKUAN_DATABASE_URL", f"sqlite:///{tmp_path / 'huikuan.db'}")
    monkeypatch.setenv("HUIKUAN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HUIKUAN_COMPANY_FILE", str(tmp_path / "company.yaml"))
    get_settings.cache_clear()
    engine_for.cache_clear()
    try:
        runner = CliRunner()
        demo = runner.invoke(app, ["demo", "--customers", "40", "--as-of", AS_OF.isoformat()], catch_exceptions=False, env={"COLUMNS": "250"})
        assert demo.exit_code == 0, demo.output
        path = tmp_path / "data" / "demo" / BANK_STATEMENT_FILE
        command = next(line for line in demo.stdout.splitlines() if line.startswith("huikuan bank import "))
        assert str(path) in demo.stdout
        args = shlex.split(command, comments=True)[1:]
        assert args == ["bank", "import", str(path), "--on", AS_OF.isoformat()]
        with session_scope() as session:
            assert count(session, BankLine) == 0
        imported = runner.invoke(app, args, catch_exceptions=False, env={"COLUMNS": "250"})
        assert imported.exit_code == 0, imported.output
        assert "waiting for finance: `huikuan bank review`" in imported.stdout
        review = runner.invoke(app, ["bank", "review"], catch_exceptions=False, env={"COLUMNS": "250"})
        assert "Bank lines waiting:" in review.stdout and "huikuan bank match" in review.stdout
    finally:
        engine_for.cache_clear()
        get_settings.cache_clear()


def test_the_demos_name_variants_are_those_a_bank_prints():
    import random

    from huikuan.demo.load import demo_payer_variant

    rng = random.Random(1)
    latin = {demo_payer_variant("Meridian Precision Components K.K.", rng) for _ in range(40)}
    assert {
        "Meridian Precision Components K.K.",
        "MERIDIAN PRECISION COMPONENTS K.K.",
        "Ｍｅｒｉｄｉａｎ Ｐｒｅｃｉｓｉｏｎ Ｃｏｍｐｏｎｅｎｔｓ Ｋ．Ｋ．",
    } == latin
    assert {normal_name(v) for v in latin} == {normal_name("Meridian Precision Components K.K.")}  # all matched by name
    chinese = {demo_payer_variant("重庆海天汽配有限公司", rng) for _ in range(60)}
    assert chinese == {"重庆海天汽配有限公司", "重庆海天汽配 有限公司", "重庆\u3000海天汽配有限公司", "海天汽配(重庆)有限公司"}
    assert normal_name("海天汽配(重庆)有限公司") != normal_name("重庆海天汽配有限公司")  # not the registered name: it waits for finance
