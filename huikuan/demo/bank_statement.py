"""A realistic bank statement of customers' payments, for the demo and the benchmark.

Customers pay as they do: most by their registered name, some with its brackets
half-width or its letters full-width, some from a person's account naming the
invoice, some several invoices in one transfer, some a part; a few strangers'
transfers and the company's own payments out are mixed in. Each line says whom
it really came from, so that a benchmark can count matches to a wrong customer.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

HEADER = ("交易日期", "交易时间", "摘要", "借方金额", "贷方金额", "余额", "对方户名", "对方账号", "用途", "流水号")
STRANGERS = ("张伟", "某某咨询服务部", "上海某某投资有限公司", "个人转账", "退税款")


@dataclass(frozen=True)
class SampleLine:
    booked_on: dt.date
    credit: Decimal | None  # money in; None for money out
    debit: Decimal | None
    payer: str
    account: str
    memo: str
    purpose: str
    transaction_id: str
    paid_by: str | None  # the customer it really came from (None: a stranger or money out)


def full_width(text: str) -> str:
    """The text's printable ASCII as full-width forms (Ａ for A), as some banks print Latin names."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def payer_variant(name: str, rng: random.Random) -> str:
    """The name as a bank may print it: as registered, brackets half-width, letters full-width, spaced."""
    kind = rng.random()
    if kind < 0.6:
        return name
    if kind < 0.8:
        return name.replace("（", "(").replace("）", ")")
    if kind < 0.9:
        return full_width(name)
    return name.replace("有限公司", " 有限公司")


def sample_statement(
    customers: Mapping[str, str],
    open_invoices: Mapping[str, Sequence[tuple[str, dt.date, Decimal]]],
    *,
    start: dt.date,
    days: int = 30,
    seed: int = 7,
    strangers: float = 0.02,
    outgoing: float = 0.05,
    variant: Callable[[str, random.Random], str] = payer_variant,
) -> list[SampleLine]:
    """Lines paying the customers' open invoices (customer -> [(invoice id, due date, open amount)], oldest first).

    ``variant``: how the bank prints a customer's name (default `payer_variant`).
    """
    rng = random.Random(seed)
    accounts = {c: f"6222{rng.randrange(10**11, 10**12)}" for c in customers}
    lines: list[SampleLine] = []
    serial = 0

    def add(credit, debit, payer, account, memo, purpose, paid_by):
        nonlocal serial
        serial += 1
        lines.append(
            SampleLine(start + dt.timedelta(days=rng.randrange(days)), credit, debit, payer, account, memo, purpose, f"{start:%Y%m%d}{serial:08d}", paid_by)
        )

    for customer_id, invoices in open_invoices.items():
        name, rest = customers[customer_id], list(invoices)
        while rest:
            style = rng.random()
            if style < 0.55:  # one invoice, by name
                invoice_id, _due, amount = rest.pop(0)
                add(amount, None, variant(name, rng), accounts[customer_id], "货款", "", customer_id)
            elif style < 0.75:  # one invoice, from a person's account, naming it
                invoice_id, _due, amount = rest.pop(0)
                add(
                    amount, None, rng.choice(("王经理", "财务部", "李会计")), f"6217{rng.randrange(10**11, 10**12)}", "转账", f"付发票{invoice_id}", customer_id
                )
            elif style < 0.9 and len(rest) >= 2:  # the two oldest together
                paid = [rest.pop(0), rest.pop(0)]
                add(sum((a for _i, _d, a in paid), Decimal("0")), None, variant(name, rng), accounts[customer_id], "货款", "", customer_id)
            elif style < 0.95:  # a part, no reference
                invoice_id, _due, amount = rest.pop(0)
                part = (amount * Decimal(rng.choice(("0.3", "0.5", "0.7")))).quantize(Decimal("0.01"))
                if part > 0:
                    add(part, None, variant(name, rng), accounts[customer_id], "部分货款", "", customer_id)
            else:  # not paid in this statement
                rest.pop(0)
    incoming = len(lines)
    for _ in range(int(incoming * strangers)):
        add(Decimal(rng.randrange(100, 500_000)) / 100, None, rng.choice(STRANGERS), f"6228{rng.randrange(10**11, 10**12)}", "往来款", "", None)
    for _ in range(int(incoming * outgoing)):
        add(None, Decimal(rng.randrange(100, 5_000_000)) / 100, "某供应商有限公司", f"6225{rng.randrange(10**11, 10**12)}", "付货款", "", None)
    lines.sort(key=lambda line: (line.booked_on, line.transaction_id))
    return lines


def write_bank_csv(lines: Sequence[SampleLine], path: Path, *, account: str = "6222000011112222", company: str = "", encoding: str = "gbk") -> Path:
    """The lines as a Chinese bank's CSV export (GBK by default): the account above the header, the totals below."""
    credit_total = sum((l.credit for l in lines if l.credit), Decimal("0"))
    debit_total = sum((l.debit for l in lines if l.debit), Decimal("0"))
    first, last = (lines[0].booked_on, lines[-1].booked_on) if lines else (dt.date.today(), dt.date.today())
    rows = [f"账号,{account}", f"户名,{company}", f"起止日期,{first:%Y-%m-%d}至{last:%Y-%m-%d}", "", ",".join(HEADER)]
    for line in lines:
        rows.append(
            ",".join(
                [
                    f"{line.booked_on:%Y%m%d}",
                    "10:00:00",
                    line.memo,
                    f"{line.debit:.2f}" if line.debit else "",
                    f"{line.credit:.2f}" if line.credit else "",
                    "",
                    line.payer,
                    line.account,
                    line.purpose,
                    line.transaction_id,
                ]
            )
        )
    rows.append(f"合计,,,{debit_total:.2f},{credit_total:.2f},,,,,")
    path.write_bytes(("\r\n".join(rows) + "\r\n").encode(encoding))
    return path
