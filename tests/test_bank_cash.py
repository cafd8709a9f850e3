"""Bank statements into the ledger (issue #15), on SQLite and PostgreSQL: applied where certain, waiting where not, once.

The statements are written here as banks write them: a GBK CSV with the account's
details above the header and a total below, a camt.053 XML and an MT940 file.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from huikuan.bank.cash import count_waiting, ignore_line, import_statement, match_line, waiting_lines
from huikuan.ledger import records
from huikuan.ledger.importer import ImportFailed
from models.enums import BankLineState
from models.ledger import Allocation, BankLine, Customer, Invoice, PayerAccount, Payment, Promise, Statement
from tests.ledger_files import write_files

D = dt.date
ON = D(2026, 11, 30)

CUSTOMERS = {
    "C1": "上海华信机械有限公司",
    "C2": "恒达（集团）贸易有限公司",
    "C3": "北京星辰科技有限公司",
    "C4": "北京星辰科技有限公司",  # the same name as C3: a payer of that name is neither
    "C5": "广州南方物流有限公司",
    "C6": "ABC（上海）电子有限公司",
}
INVOICES = [  # id, customer, issued, due, amount
    ("HX-001", "C1", D(2026, 8, 31), D(2026, 9, 30), "1000.00"),
    ("HX-002", "C1", D(2026, 9, 30), D(2026, 10, 30), "500.00"),
    ("HD-2026-001", "C2", D(2026, 8, 31), D(2026, 9, 30), "800.00"),
    ("HD-2026-002", "C2", D(2026, 9, 30), D(2026, 10, 30), "1200.00"),
    ("HD-2026-003", "C2", D(2026, 10, 31), D(2026, 11, 30), "300.00"),
    ("XC-01", "C3", D(2026, 9, 30), D(2026, 10, 30), "2000.00"),
    ("XC4-01", "C4", D(2026, 9, 30), D(2026, 10, 30), "100.00"),
    ("NF-1", "C5", D(2026, 8, 31), D(2026, 9, 30), "600.00"),
    ("NF-2", "C5", D(2026, 9, 30), D(2026, 10, 30), "600.00"),
    ("AB-1", "C6", D(2026, 9, 30), D(2026, 10, 30), "750.00"),
]

# date, credit, debit, payer, account, reference, transaction id
LINES = [
    ("20261105", "1,000.00", "", "上海华信机械有限公司", "6222 0000 1111", "货款", "TX001"),  # exact: one invoice
    ("20261106", "2000.00", "", "恒达(集团)贸易有限公司", "6222000022", "货款", "TX002"),  # bracket variant, combined: two invoices
    ("20261106", "2000.00", "", "张三", "6217000033", "支付发票XC-01", "TX003"),  # referenced, by a person of the customer
    ("20261107", "100.00", "", "北京星辰科技有限公司", "6222000044", "货款", "TX004"),  # two customers of that name: waits
    ("20261107", "600.00", "", "广州南方物流有限公司", "6222000055", "货款", "TX005"),  # two invoices of that amount: waits
    ("20261108", "", "5000.00", "某供应商", "6222000066", "付货款", "TX006"),  # outgoing: ignored
    ("20261108", "999.00", "", "某某咨询有限公司", "6222000077", "咨询费", "TX007"),  # a stranger: waits
    ("20261109", "750.00", "", "ＡＢＣ 上海 电子有限公司", "6222000088", "货款", "TX008"),  # full-width, spaces, no brackets
]
APPLIED = {
    "TX001": ("C1", {"HX-001": "1000.00"}),
    "TX002": ("C2", {"HD-2026-001": "800.00", "HD-2026-002": "1200.00"}),
    "TX003": ("C3", {"XC-01": "2000.00"}),
    "TX008": ("C6", {"AB-1": "750.00"}),
}
WAITING = {"TX004", "TX005", "TX007"}


def gbk_csv(path: Path, lines=LINES, *, transaction_ids: bool = True) -> Path:
    """A statement as a Chinese bank's online banking exports it: GBK, the account above the header, a total below."""
    header = "交易日期,交易时间,摘要,借方金额,贷方金额,余额,对方户名,对方账号,用途" + (",流水号" if transaction_ids else "")
    rows = ["账号,6222000011112222", "户名,上海回款示范有限公司", "起止日期,2026-11-01至2026-11-30", "", header]
    for date, credit, debit, payer, account, reference, tx in lines:
        memo, purpose = (reference, "") if not reference.startswith("支付") else ("转账", reference)
        cells = [date, "10:00:00", memo, debit, f'"{credit}"' if "," in credit else credit, "", payer, account, purpose] + ([tx] if transaction_ids else [])
        rows.append(",".join(cells))
    rows.append("合计,,,,,,,,")
    path.write_bytes(("\r\n".join(rows) + "\r\n").encode("gbk"))
    return path


def camt053(path: Path, lines=LINES) -> Path:
    """The same lines as an ISO 20022 camt.053.001.02 statement."""
    entries = []
    for date, credit, debit, payer, account, reference, tx in lines:
        amount = (credit or debit).replace(",", "")
        iso = f"{date[:4]}-{date[4:6]}-{date[6:]}"
        entries.append(f"""
      <Ntry>
        <Amt Ccy="CNY">{amount}</Amt>
        <CdtDbtInd>{"CRDT" if credit else "DBIT"}</CdtDbtInd>
        <Sts>BOOK</Sts>
        <BookgDt><Dt>{iso}</Dt></BookgDt>
        <ValDt><Dt>{iso}</Dt></ValDt>
        <AcctSvcrRef>{tx}</AcctSvcrRef>
        <NtryDtls><TxDtls>
          <Refs><AcctSvcrRef>{tx}</AcctSvcrRef></Refs>
          <RltdPties><Dbtr><Nm>{payer}</Nm></Dbtr><DbtrAcct><Id><Othr><Id>{account}</Id></Othr></Id></DbtrAcct></RltdPties>
          <RmtInf><Ustrd>{reference}</Ustrd></RmtInf>
        </TxDtls></NtryDtls>
      </Ntry>""")
    path.write_text(
        f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">
  <BkToCstmrStmt>
    <GrpHdr><MsgId>STMT-2026-11</MsgId><CreDtTm>2026-11-30T18:00:00</CreDtTm></GrpHdr>
    <Stmt>
      <Id>2026-11</Id>
      <Acct><Id><Othr><Id>6222000011112222</Id></Othr></Id><Ccy>CNY</Ccy></Acct>{"".join(entries)}
    </Stmt>
  </BkToCstmrStmt>
</Document>
""",
        encoding="utf-8",
    )
    return path


def mt940(path: Path, lines=LINES) -> Path:
    """The same lines as a SWIFT MT940 statement, payer and remittance in :86: as /NAME/ /ACCT/ /REMI/."""
    rows = [":20:STMT202611", ":25:6222000011112222", ":28C:11/1", ":60F:C261101CNY0,00"]
    for date, credit, debit, payer, account, reference, tx in lines:
        amount = (credit or debit).replace(",", "").replace(".", ",")
        rows.append(f":61:{date[2:]}{date[4:]}{'C' if credit else 'D'}{amount}NTRFNONREF//{tx}")
        rows.append(f":86:/NAME/{payer}/ACCT/{account.replace(' ', '')}/REMI/{reference}")
    rows.append(":62F:C261130CNY7449,00")
    path.write_text("\r\n".join(rows) + "\r\n", encoding="utf-8")
    return path


@pytest.fixture
def ledger(session):
    session.add_all([Customer(customer_id=c, name=name) for c, name in CUSTOMERS.items()])
    session.flush()
    session.add_all([Invoice(invoice_id=i, customer_id=c, issued_on=issued, due_on=due, amount=Decimal(a)) for i, c, issued, due, a in INVOICES])
    session.flush()
    return session


def allocations(session, customer_id=None) -> dict[str, Decimal]:
    query = select(Allocation.invoice_id, func.sum(Allocation.amount)).join(Payment).group_by(Allocation.invoice_id)
    if customer_id:
        query = query.where(Payment.customer_id == customer_id)
    return dict(session.execute(query).all())


def state(session) -> dict[str, tuple]:
    return {line.transaction_id: (line.state.value, line.customer_id) for line in session.scalars(select(BankLine))}


def snapshot(session):
    return (state(session), allocations(session), session.scalar(select(func.count()).select_from(Payment)))


def check_gbk_outcome(session, result=None) -> None:
    lines = {line.transaction_id: line for line in session.scalars(select(BankLine))}
    assert set(lines) == set(APPLIED) | WAITING  # the outgoing TX006 is not kept
    for tx, (customer_id, paid) in APPLIED.items():
        assert (lines[tx].state, lines[tx].customer_id, lines[tx].decided_by) == (BankLineState.applied, customer_id, "auto"), lines[tx].note
        assert {k: str(v) for k, v in allocations(session, customer_id).items()} == paid
    for tx in WAITING:
        assert (lines[tx].state, lines[tx].customer_id) == (BankLineState.waiting, None)
    assert "C3, C4" in lines["TX004"].note and "2 sets" in lines["TX005"].note and "not a known customer" in lines["TX007"].note
    if result is not None:
        assert (result.incoming, result.outgoing, result.new, len(result.applied), result.waiting) == (7, 1, 7, 4, 3)


def test_a_gbk_statement_is_applied_where_certain_and_waits_where_not(ledger, tmp_path):
    result = import_statement(ledger, gbk_csv(tmp_path / "stmt.csv"), on=ON)
    assert result.format == "csv"
    check_gbk_outcome(ledger, result)
    payment = ledger.get(Payment, "bank-TX001")
    assert (payment.customer_id, payment.received_on, payment.amount, payment.invoice_id) == ("C1", D(2026, 11, 5), Decimal("1000.00"), "HX-001")
    # Two invoices of C2 that oldest-first pays exactly: one payment, allocated by the ledger's rule.
    assert ledger.get(Payment, "bank-TX002").invoice_id is None


def test_importing_a_statement_again_changes_nothing(ledger, tmp_path):
    path = gbk_csv(tmp_path / "stmt.csv")
    import_statement(ledger, path, on=ON)
    before = snapshot(ledger)
    again = import_statement(ledger, path, on=ON)
    assert (again.new, again.known, again.applied) == (0, 7, [])
    assert snapshot(ledger) == before


def test_overlapping_statements_without_transaction_ids_change_nothing(ledger, tmp_path):
    first = gbk_csv(tmp_path / "first.csv", LINES[:5], transaction_ids=False)
    second = gbk_csv(tmp_path / "second.csv", LINES[3:], transaction_ids=False)  # TX004 and TX005 are in both
    import_statement(ledger, first, on=ON)
    result = import_statement(ledger, second, on=ON)
    assert (result.known, result.new) == (2, 2)
    assert ledger.scalar(select(func.count()).select_from(BankLine)) == 7
    assert sorted(ledger.scalars(select(Payment.customer_id))) == ["C1", "C2", "C3", "C6"]
    before = snapshot(ledger)
    import_statement(ledger, first, on=ON)
    import_statement(ledger, second, on=ON)
    assert snapshot(ledger) == before


def test_two_identical_transfers_on_one_day_are_two_lines(ledger, tmp_path):
    twice = [LINES[4], LINES[4]]
    import_statement(ledger, gbk_csv(tmp_path / "twice.csv", twice, transaction_ids=False), on=ON)
    assert ledger.scalar(select(func.count()).select_from(BankLine)) == 2
    import_statement(ledger, gbk_csv(tmp_path / "once.csv", twice[:1], transaction_ids=False), on=ON)  # the first of them again
    assert ledger.scalar(select(func.count()).select_from(BankLine)) == 2


@pytest.mark.parametrize("write", [camt053, mt940], ids=["camt053", "mt940"])
def test_camt053_and_mt940_statements_import_the_same_way(ledger, tmp_path, write):
    path = write(tmp_path / f"stmt.{write.__name__}")
    result = import_statement(ledger, path, on=ON)
    assert result.format == write.__name__
    check_gbk_outcome(ledger, result)
    again = import_statement(ledger, path, on=ON)
    assert (again.new, again.applied) == (0, [])


def test_bank_match_applies_a_waiting_line_and_remembers_the_account(ledger, tmp_path):
    import_statement(ledger, gbk_csv(tmp_path / "stmt.csv"), on=ON)
    result = match_line(ledger, "TX005", "C5", invoices=["NF-2"], on=ON, by="fin")
    assert result.applied == [("NF-2", Decimal("600.00"))] and result.remembered
    line = result.line
    assert (line.state, line.customer_id, line.decided_by) == (BankLineState.applied, "C5", "fin")
    assert ledger.get(PayerAccount, ("6222000055", "C5")).remembered_by == "fin"
    with pytest.raises(records.LedgerError, match="already applied to C5"):
        match_line(ledger, "TX005", "C5", on=ON, by="fin")
    # The next transfer from that account, under a short name, is C5's at once.
    later = [("20261120", "600.00", "", "南方物流", "6222-0000-55", "货款", "TX101")]
    applied = import_statement(ledger, gbk_csv(tmp_path / "later.csv", later), on=ON).applied
    assert [(line.transaction_id, line.customer_id) for line in applied] == [("TX101", "C5")]
    assert "known account" in applied[0].note
    assert allocations(ledger, "C5") == {"NF-1": Decimal("600.00"), "NF-2": Decimal("600.00")}


def test_bank_match_refuses_what_the_ledger_cannot_hold(ledger, tmp_path):
    import_statement(ledger, gbk_csv(tmp_path / "stmt.csv"), on=ON)
    with pytest.raises(records.LedgerError, match="unknown customer C404"):
        match_line(ledger, "TX007", "C404", on=ON, by="fin")
    with pytest.raises(records.LedgerError, match="belongs to customer C4, not C3"):
        match_line(ledger, "TX004", "C3", invoices=["XC4-01"], on=ON, by="fin")
    with pytest.raises(records.LedgerError, match="HX-001 is not open"):
        match_line(ledger, "TX007", "C1", invoices=["HX-001"], on=ON, by="fin")  # paid by TX001 already
    with pytest.raises(records.LedgerError, match="no bank line TX404"):
        match_line(ledger, "TX404", "C4", on=ON, by="fin")
    assert count_waiting(ledger) == 3


def test_a_partial_payment_matched_without_invoices_goes_to_the_oldest_first(ledger, tmp_path):
    line = [("20261110", "1100.00", "", "华信机械", "6222999", "", "TX201")]
    import_statement(ledger, gbk_csv(tmp_path / "part.csv", line), on=ON)
    assert "not a known customer" in ledger.scalar(select(BankLine.note))
    match_line(ledger, "TX201", "C1", on=ON, by="fin")
    assert allocations(ledger, "C1") == {"HX-001": Decimal("1000.00"), "HX-002": Decimal("100.00")}


def test_ignored_lines_leave_the_review_list(ledger, tmp_path):
    import_statement(ledger, gbk_csv(tmp_path / "stmt.csv"), on=ON)
    ignore_line(ledger, "TX007", reason="退回的押金", on=ON, by="fin")
    assert {w.line.transaction_id for w in waiting_lines(ledger)} == {"TX004", "TX005"}


def test_waiting_lines_come_with_ranked_suggestions(ledger, tmp_path):
    ledger.add(Promise(customer_id="C1", made_on=D(2026, 11, 1), amount=Decimal("500.00"), due_on=D(2026, 11, 20)))
    lines = LINES + [("20261118", "500.00", "", "华信公司", "", "", "TX009")]
    import_statement(ledger, gbk_csv(tmp_path / "stmt.csv", lines), on=ON)
    suggestions = {w.line.transaction_id: w.suggestions for w in waiting_lines(ledger)}
    first = suggestions["TX009"][0]
    assert first.customer_id == "C1" and first.invoices == ("HX-002",)
    assert any("promised 500.00" in r for r in first.reasons) and any(r.startswith("name") for r in first.reasons)
    assert [s.customer_id for s in suggestions["TX004"][:2]] == ["C4", "C3"]  # the same name; C4 owes that amount


def test_a_line_naming_a_paid_invoice_waits(ledger, tmp_path):
    import_statement(ledger, gbk_csv(tmp_path / "stmt.csv"), on=ON)
    again = [("20261112", "500.00", "", "上海华信机械有限公司", "6222 0000 1111", "HX-001 货款", "TX301")]
    import_statement(ledger, gbk_csv(tmp_path / "again.csv", again), on=ON)
    assert "HX-001, which has nothing open" in ledger.scalar(select(BankLine.note).where(BankLine.transaction_id == "TX301"))


def test_a_statement_month_in_the_reference_pays_that_statement(ledger, tmp_path):
    statement = Statement(customer_id="C2", month="2026-10", amount=Decimal("1500.00"), prepared_on=D(2026, 11, 3))
    ledger.add(statement)
    ledger.flush()
    for invoice_id in ("HD-2026-002", "HD-2026-003"):
        ledger.get(Invoice, invoice_id).statement_id = statement.id
    ledger.flush()
    line = [("20261201", "1500.00", "", "恒达(集团)贸易有限公司", "", "10月对账单货款", "TX401")]
    import_statement(ledger, gbk_csv(tmp_path / "month.csv", line), on=ON)
    assert allocations(ledger, "C2") == {"HD-2026-002": Decimal("1200.00"), "HD-2026-003": Decimal("300.00")}
    assert "2026-10 statement" in ledger.scalar(select(BankLine.note))
    assert len(ledger.scalars(select(Payment)).all()) == 2  # not oldest first: one payment per invoice


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("amount.csv", "交易日期,贷方金额,对方户名\n2026-11-05,1.005,华信\n", ["amount.csv:2:贷方金额: 1.005 has more than 2 decimal places"]),
        (
            "date.csv",
            "交易日期,贷方金额,对方户名\n2026-13-05,100.00,华信\n2026-11-06,¥5,华信\n",
            [
                "date.csv:2:交易日期: 2026-13-05 is not a date of the calendar",
                "date.csv:3:贷方金额: '¥5' has a currency sign or name; write the number only, e.g. 1234.50",
            ],
        ),
        ("header.csv", "日子,钱\n2026-11-05,100\n", ["header.csv:1:-: no header row naming a date"]),
        ("empty.csv", "", ["empty.csv:1:-: no header row naming a date"]),
        (
            "doctype.xml",
            '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaa">]><Document><BkToCstmrStmt/></Document>',
            ["doctype.xml:1:-: the file declares a DTD or entities"],
        ),
        (
            "broken.xml",
            "<Document xmlns='urn:iso:std:iso:20022:tech:xsd:camt.053.001.02'><BkToCstmrStmt><Stmt>\n<Ntry>",
            ["broken.xml:2:-: not well-formed XML"],
        ),
        (
            "camt-amount.xml",
            "<Document><BkToCstmrStmt><Stmt><Ntry>\n<Amt Ccy='CNY'>1,5</Amt><CdtDbtInd>CRDT</CdtDbtInd><BookgDt><Dt>2026-11-05</Dt></BookgDt>"
            "</Ntry></Stmt></BkToCstmrStmt></Document>",
            ["camt-amount.xml:2:Amt: '1,5' is not an amount"],
        ),
        ("bad.sta", ":20:X\n:25:1\n:60F:C261101CNY0,00\n:61:2611XXC100,00NTRF\n", ["bad.sta:4::61:: not a valid MT940 field"]),
    ],
)
def test_bad_files_give_one_line_per_problem_and_write_nothing(ledger, tmp_path, name, content, expected):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ImportFailed) as failed:
        import_statement(ledger, path, on=ON)
    got = [str(p).removeprefix(str(tmp_path) + "/") for p in failed.value.problems]
    assert len(got) == len(expected)
    for line, start in zip(got, expected):
        assert line.startswith(start) and "\n" not in line
    assert ledger.scalar(select(func.count()).select_from(BankLine)) == 0


def test_a_bad_row_among_good_ones_writes_nothing(ledger, tmp_path):
    lines = LINES[:2] + [("20261199", "100.00", "", "x", "", "", "TX999")]
    with pytest.raises(ImportFailed, match="1 problem"):
        import_statement(ledger, gbk_csv(tmp_path / "stmt.csv", lines), on=ON)
    assert ledger.scalar(select(func.count()).select_from(Payment)) == 0


@pytest.mark.filterwarnings("ignore::models.calendar.CalendarFallbackWarning")
def test_a_bank_line_is_a_payment_like_any_other_it_lifts_the_lock_its_debt_caused(ledger_engine, tmp_path):
    """The account-state scenario of tests/test_account_state.py, with the money coming from the bank's statement."""
    from sqlalchemy.orm import Session

    from huikuan.ledger import account_state
    from huikuan.ledger.importer import import_files
    from tests.test_account_state import approve, customer, run
    from tests.test_collection import FILES

    paths = write_files(tmp_path, FILES)
    with Session(ledger_engine) as session, session.begin():
        import_files(session, paths)
    assert "C1:stop_shipment:2026-11-11" in run(ledger_engine, D(2026, 11, 11))
    approve(ledger_engine, "stop_shipment", D(2026, 11, 11))
    assert customer(ledger_engine, "C1").locked_on == D(2026, 11, 11)
    # I1 (10,000.00), the debt that caused the lock, paid by transfer on the 20th, naming the invoice.
    lines = [("20261120", "10,000.00", "", "杭州华信贸易有限公司", "6222", "货款 I1", "TX-LOCK")]
    with Session(ledger_engine) as session, session.begin():
        assert [l.customer_id for l in import_statement(session, gbk_csv(tmp_path / "s.csv", lines), on=D(2026, 11, 23)).applied] == ["C1"]
    assert "C1:lift_lock:2026-11-23" in run(ledger_engine, D(2026, 11, 23))
    assert account_state.shipping_answer(customer(ledger_engine, "C1")).may_ship


def test_finance_matching_an_over_payment_pays_the_oldest_first_and_keeps_the_rest_as_unapplied_credit(ledger, tmp_path):
    from huikuan.reports.portfolio import customer_file
    from models.ledger import UnappliedCredit

    over = [
        ("20261110", "1600.00", "", "上海华信机械有限公司", "6222999", "货款", "TX301"),  # C1 owes 1,500.00
        ("20261111", "1200.00", "", "张三", "6217000033", "付HX-001", "TX302"),
    ]  # names an invoice of 1,000.00
    result = import_statement(ledger, gbk_csv(tmp_path / "over.csv", over), on=ON)
    assert result.applied == [] and result.waiting == 2  # never applied on its own: it waits for finance
    assert "an over-payment waits for finance" in ledger.scalar(select(BankLine.note).where(BankLine.transaction_id == "TX301"))
    assert count(ledger, Payment) == 0

    done = match_line(ledger, "TX301", "C1", on=ON, by="fin")
    assert done.credit == Decimal("100.00")
    assert allocations(ledger, "C1") == {"HX-001": Decimal("1000.00"), "HX-002": Decimal("500.00")}  # oldest first, all that was open
    assert "100.00 kept as unapplied credit" in done.line.note
    assert records.unapplied_credit(ledger, "C1") == Decimal("100.00")
    assert records.unapplied_credit(ledger, "C1", as_of=D(2026, 11, 29)) == Decimal("0")  # recorded on ON
    file = customer_file(ledger, "C1", ON)
    assert (file.balance, file.credit, file.net) == (Decimal("0.00"), Decimal("100.00"), Decimal("-100.00"))
    with pytest.raises(records.LedgerError, match="already applied"):
        match_line(ledger, "TX301", "C1", on=ON, by="fin")
    assert count(ledger, UnappliedCredit) == 1

    # Nothing open any more: all of it is the customer's credit.
    match_line(ledger, "TX302", "C1", on=ON, by="fin")
    assert records.unapplied_credit(ledger, "C1") == Decimal("1300.00")
    assert count(ledger, Payment) == 1


def test_an_over_payment_matched_to_invoices_pays_them_and_keeps_the_rest(ledger, tmp_path):
    import_statement(ledger, gbk_csv(tmp_path / "stmt.csv"), on=ON)
    done = match_line(ledger, "TX007", "C5", invoices=["NF-2"], on=ON, by="fin")  # 999.00 for NF-2 of 600.00
    assert [(i, str(a)) for i, a in done.applied] == [("NF-2", "600.00")] and done.credit == Decimal("399.00")
    assert allocations(ledger, "C5") == {"NF-2": Decimal("600.00")}
    assert records.unapplied_credit(ledger, "C5") == Decimal("399.00")
    assert records.unapplied_credit(ledger, "C4") == Decimal("0")


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))
