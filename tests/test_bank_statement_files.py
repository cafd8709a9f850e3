"""Reading bank statements (pure, no ledger): the layouts Chinese banks export, camt.053 and MT940."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from huikuan.bank.statement_files import HeaderWords, detect_format, parse_bank_amount, parse_bank_date, read_statement
from huikuan.ledger.company import BankSection
from huikuan.ledger.importer import ImportFailed

D = dt.date


def lines_of(statement):
    return [(l.booked_on, l.amount, l.payer, l.payer_account, l.reference, l.transaction_id) for l in statement.lines]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_csv_in_every_encoding_banks_use(tmp_path, encoding):
    path = tmp_path / "s.csv"
    path.write_bytes("交易日期,收入金额,支出金额,付款人名称,付款人账号,附言,交易流水号\n2026-11-05,12.50,,华信（集团）,6222 01,INV-1,T1\n".encode(encoding))
    statement = read_statement(path)
    assert lines_of(statement) == [(D(2026, 11, 5), Decimal("12.50"), "华信（集团）", "6222 01", "INV-1", "T1")]


def test_preamble_totals_outgoing_and_every_reference_column(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text(
        "中国工商银行 账户明细\n账号:,6222000011112222\n\n"
        "交易时间,摘要,用途,备注,借方发生额(元),贷方发生额(元),对方单位名称,对方账号\n"
        '2026-11-05 10:22:33,货款,INV-1,10月,,"12,345.60",华信,"=""6222"""\n'
        "2026/11/06,付款,,,100.00,,供应商,1\n"
        "2026年11月7日,利息,,,,0.00,,\n"
        '本页合计,,,,100.00,"12,345.60",,\n',
        encoding="utf-8",
    )
    statement = read_statement(path)
    assert lines_of(statement) == [(D(2026, 11, 5), Decimal("12345.60"), "华信", "6222", "货款 INV-1 10月", None)]
    assert statement.outgoing == 2  # the transfer out and the zero line


def test_one_amount_column_with_a_direction_mark(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("交易日期,交易金额,借贷标志,对方户名\n20261105,100.00,贷,华信\n20261106,50.00,借,供应商\n", encoding="utf-8")
    statement = read_statement(path)
    assert [(l.amount, l.payer) for l in statement.lines] == [(Decimal("100.00"), "华信")] and statement.outgoing == 1
    path.write_text("交易日期,交易金额,借贷标志,对方户名\n20261105,100.00,来账,华信\n", encoding="utf-8")
    with pytest.raises(ImportFailed) as failed:
        read_statement(path)
    assert "s.csv:2:借贷标志: '来账' is neither money in" in str(failed.value.problems[0])
    words = HeaderWords.of(BankSection(credit_marks=["来账"], debit_marks=["往账"]))
    assert len(read_statement(path, words=words).lines) == 1


def test_the_company_file_maps_another_banks_headers(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("Value date,Credit,Debit,Counterparty,IBAN,Memo,Ref\n2026-11-05,100.00,,Huaxin,CN01,INV-1,R1\n", encoding="utf-8")
    with pytest.raises(ImportFailed) as failed:
        read_statement(path)
    assert "s.csv:1:-: no header row naming a date" in str(failed.value.problems[0])
    bank = BankSection(
        headers={
            "date": ["Value date"],
            "credit": ["Credit"],
            "debit": ["Debit"],
            "payer": ["Counterparty"],
            "payer_account": ["IBAN"],
            "reference": ["Memo"],
            "transaction_id": ["Ref"],
        }
    )
    statement = read_statement(path, words=HeaderWords.of(bank))
    assert lines_of(statement) == [(D(2026, 11, 5), Decimal("100.00"), "Huaxin", "CN01", "INV-1", "R1")]


def test_the_company_files_bank_section_is_validated():
    from huikuan.ledger.company import EXAMPLE, CompanyFileError, parse_company

    assert parse_company(EXAMPLE + "bank:\n  headers:\n    payer: [客户名称]\n").bank.headers == {"payer": ["客户名称"]}
    with pytest.raises(CompanyFileError, match="bank.headers.payee"):
        parse_company(EXAMPLE + "bank:\n  headers:\n    payee: [客户名称]\n")


def test_xlsx_exports_are_read_like_csv(tmp_path):
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["账号", "6222000011112222"])
    sheet.append(["交易日期", "贷方金额", "借方金额", "对方户名", "对方账号", "摘要", "流水号"])
    sheet.append([dt.datetime(2026, 11, 5, 9, 30), 1000.5, None, "华信", "6222000011", "INV-1", "T1"])
    sheet.append([dt.date(2026, 11, 6), None, 20, "供应商", "1", "", "T2"])
    path = tmp_path / "s.xlsx"
    workbook.save(path)
    assert detect_format(path) == "xlsx"
    statement = read_statement(path)
    assert lines_of(statement) == [(D(2026, 11, 5), Decimal("1000.50"), "华信", "6222000011", "INV-1", "T1")] and statement.outgoing == 1


def test_camt053_batches_pending_entries_and_reversals(tmp_path):
    path = tmp_path / "s.xml"
    path.write_text(
        """<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt><Stmt><Acct><Ccy>CNY</Ccy></Acct>
<Ntry><Amt Ccy="CNY">300.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts><BookgDt><DtTm>2026-11-05T10:00:00+08:00</DtTm></BookgDt>
 <AcctSvcrRef>BATCH-1</AcctSvcrRef>
 <NtryDtls><TxDtls><Amt Ccy="CNY">100.00</Amt><RltdPties><Dbtr><Pty><Nm>华信</Nm></Pty></Dbtr></RltdPties><RmtInf><Strd><CdtrRefInf><Ref>INV-1</Ref></CdtrRefInf></Strd></RmtInf></TxDtls>
 <TxDtls><Amt Ccy="CNY">200.00</Amt><RltdPties><Dbtr><Nm>恒达</Nm></Dbtr><DbtrAcct><Id><IBAN>CN12 3456</IBAN></Id></DbtrAcct></RltdPties></TxDtls></NtryDtls></Ntry>
<Ntry><Amt Ccy="CNY">50.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>PDNG</Cd></Sts><BookgDt><Dt>2026-11-06</Dt></BookgDt></Ntry>
<Ntry><Amt Ccy="CNY">70.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><RvslInd>true</RvslInd><Sts>BOOK</Sts><BookgDt><Dt>2026-11-06</Dt></BookgDt></Ntry>
<Ntry><Amt Ccy="CNY">80.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts>BOOK</Sts><BookgDt><Dt>2026-11-06</Dt></BookgDt></Ntry>
</Stmt></BkToCstmrStmt></Document>""",
        encoding="utf-8",
    )
    assert detect_format(path) == "camt053"
    statement = read_statement(path)
    assert lines_of(statement) == [
        (D(2026, 11, 5), Decimal("100.00"), "华信", "", "INV-1", None),  # a batch's shared reference keys neither of its transfers
        (D(2026, 11, 5), Decimal("200.00"), "恒达", "CN123456", "", None),
    ]
    assert statement.outgoing == 2


def test_mt940_in_gbk_with_reversals_and_structured_details(tmp_path):
    path = tmp_path / "s.sta"
    path.write_bytes(
        (
            ":20:STMT\r\n:25:6222000011112222\r\n:28C:1/1\r\n:60F:C261101CNY0,00\r\n"
            ":61:2611051105C1000,50NTRFNONREF//B001\r\n:86:/NAME/上海华信机械有限公司/ACCT/6222 0001/REMI/HX-001 货款\r\n"
            ":61:2611061106RC10,00NTRFNONREF//B002\r\n:86:冲正\r\n"
            ":61:2611061106D20,00NTRFNONREF//B003\r\n:86:付款\r\n"
            ":61:2611071107C5,00NTRFNONREF\r\n:86:利息收入\r\n"
            ":62F:C261130CNY975,50\r\n"
        ).encode("gbk")
    )
    assert detect_format(path) == "mt940"
    statement = read_statement(path)
    assert lines_of(statement) == [
        (D(2026, 11, 5), Decimal("1000.50"), "上海华信机械有限公司", "62220001", "HX-001 货款", "B001"),
        (D(2026, 11, 7), Decimal("5.00"), "", "", "利息收入", None),
    ]
    assert statement.outgoing == 2


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("2026-11-05", D(2026, 11, 5)),
        ("20261105", D(2026, 11, 5)),
        ("2026/11/5", D(2026, 11, 5)),
        ("2026年11月05日", D(2026, 11, 5)),
        ("2026-11-05 23:59:59", D(2026, 11, 5)),
        ("2026.11.05", D(2026, 11, 5)),
    ],
)
def test_bank_dates(text, day):
    assert parse_bank_date(text) == day


@pytest.mark.parametrize("text", ["05/11/2026", "2026-02-30", "yesterday"])
def test_dates_that_are_not_dates_are_refused(text):
    with pytest.raises(ValueError):
        parse_bank_date(text)


@pytest.mark.parametrize(("text", "amount"), [("", None), ("-", None), ("0.00", None), ("1,234.50", Decimal("1234.50")), ("1234.5", Decimal("1234.50"))])
def test_bank_amounts(text, amount):
    assert parse_bank_amount(text) == amount


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("1 234.50", "not an amount"),
        ("1,2345", "not an amount"),
        ("１００", "full-width digits"),
        ("1.234", "more than 2 decimal places"),
        ("-5.00", "may not be negative"),
        ("1E3", "scientific notation"),
    ],
)
def test_bank_amounts_are_parsed_as_strictly_as_the_import_files(text, why):
    with pytest.raises(ValueError, match=why):
        parse_bank_amount(text)


def test_mt940_structured_subfields(tmp_path):
    path = tmp_path / "s.sta"
    path.write_text(
        ":20:STMT\n:25:6222000011112222\n:28C:1/1\n:60F:C261101CNY0,00\n"
        ":61:2611051105C250,00NTRFNONREF//B9\n:86:166?00GUTSCHRIFT?20INV-7 payment?3012345678?31CN0012345?32HUAXIN MACHINERY?33CO LTD\n"
        ":62F:C261130CNY250,00\n",
        encoding="utf-8",
    )
    (line,) = read_statement(path).lines
    assert (line.payer, line.payer_account, line.reference, line.transaction_id) == ("HUAXIN MACHINERYCO LTD", "CN0012345", "INV-7 payment", "B9")
