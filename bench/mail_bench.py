"""Benchmark: ``huikuan.outbox.mail.dispatch`` of the outbox to an outbox folder, on SQLite.

    python -m bench.mail_bench [--messages 3000] [--repeat 3] [--attach-every 5] [--chunk N] [--mail PATH]

Builds a temporary migrated SQLite ledger, queues ``--messages`` realistic
emails (Chinese subject and display name, a text body of about 2 KB and an
html alternative of about 5 KB, every ``--attach-every``-th with a ~30 KB PDF),
then for each repeat, on a fresh copy of that ledger:

``dispatch``  ``dispatch`` to an ``OutboxFolder`` in a temporary directory: the
              whole path (claim, read, build, write the .eml, stamp), per message.
``floor``     the same work at its minimum, in one pass with bare ``sqlite3``:
              read every unsent row, ``build_message`` + ``bytes()``, write
              ``<key>.eml``, then stamp them all sent in one transaction.
``build``     ``build_message`` + ``bytes()`` alone, on the same rows in memory:
              the email package's share.

Prints wall and CPU time (CPU is less disturbed by a loaded machine), messages/s
and ms per message for each, the median over the repeats, the ratio of
``dispatch`` to its floor, and /proc/loadavg before and after. ``dispatch`` and
``floor`` alternate in each repeat, so that both meet the same load.
``--chunk N`` gives ``dispatch`` its chunk (messages a transaction; 1 is a
transaction a message, the narrowest exactly-once window).
``--mail PATH`` measures another version of huikuan/outbox/mail.py (a copy of an older
one, say) in place of the checkout's, to compare the two on the same machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import os
import re
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import namedtuple
from pathlib import Path

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from huikuan.ledger.company import EXAMPLE, parse_company
from huikuan.ledger.db import make_engine
from huikuan.ledger.migrate import upgrade
from huikuan.outbox import mail
from models.ledger import OutboxMessage

COMPANY = parse_company(EXAMPLE)
NAMES = ("王伟", "李娜", "张敏", "刘洋", "陈静", "Jane Doe")
LINE = "尊敬的客户：贵公司尚有发票 INV-2026-{n:05d} 金额 ¥12,345.67 已逾期 15 天，请尽快安排付款。谢谢合作！\n"
ROW = '<tr><td>INV-2026-{n:05d}</td><td>2026-10-{d:02d}</td><td style="text-align:right">¥12,345.67</td><td>已逾期 15 天</td></tr>\n'


def fake_pdf(n: int, size: int = 30_000) -> bytes:
    """A PDF-looking attachment: a header, then bytes of every value (base64 has to do real work)."""
    body = bytes((i * 31 + n) % 256 for i in range(size))
    return b"%PDF-1.4\n" + body + b"\n%%EOF\n"


def message_row(n: int, attach_every: int) -> dict:
    """One queued email as the actions queue them."""
    name = NAMES[n % len(NAMES)]
    text = "".join(LINE.format(n=n + i) for i in range(30))  # ~2 KB of Chinese
    html = "<html><body><p>尊敬的客户：</p><table>" + "".join(ROW.format(n=n + i, d=1 + i % 28) for i in range(40)) + "</table></body></html>"
    attached = attach_every and n % attach_every == 0
    return {
        "key": f"C{n:05d}:follow_up:2026-11-23:email",
        "customer_id": None,
        "to_address": f"ap{n}@customer{n % 97}.example.cn",
        "to_name": f"{name}（杭州华信贸易有限公司 财务部）",
        "subject": f"【催款提醒】杭州华信贸易有限公司：发票 INV-2026-{n:05d} 等 3 张已逾期，合计 ¥37,037.01，请于 2026-11-30 前付款",
        "text": text,
        "html": html,
        "attachment_name": f"催账函-C{n:05d}.pdf" if attached else None,
        "attachment": fake_pdf(n) if attached else None,
    }


def build_ledger(path: Path, messages: int, attach_every: int) -> None:
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with engine.begin() as connection:
        connection.execute(insert(OutboxMessage), [message_row(n, attach_every) for n in range(messages)])
    engine.dispose()


def time_dispatch(template: Path, work: Path, chunk: int | None = None) -> tuple[float, float, int]:
    """(wall, cpu, sent) of one dispatch of the whole outbox, on a fresh copy of the ledger."""
    ledger = work / "ledger.db"
    shutil.copy(template, ledger)
    outbox = work / "outbox"
    shutil.rmtree(outbox, ignore_errors=True)
    engine = make_engine(f"sqlite:///{ledger}")
    wall, cpu = time.perf_counter(), time.process_time()
    result = mail.dispatch(sessionmaker(engine), COMPANY, mail.OutboxFolder(outbox), **({"chunk": chunk} if chunk else {}))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    engine.dispose()
    assert result.failed == 0 and result.sent == len(list(outbox.iterdir())), result
    return wall, cpu, result.sent


Queued = namedtuple("Queued", "id key to_address to_name subject text html attachment_name attachment")


def time_floor(template: Path, work: Path) -> tuple[float, float, int]:
    """(wall, cpu, count) of the floor: read, build, write the .eml and stamp, in one pass with bare sqlite3, on a fresh copy."""
    ledger = work / "floor.db"
    shutil.copy(template, ledger)
    outbox = work / "floor-outbox"
    shutil.rmtree(outbox, ignore_errors=True)
    outbox.mkdir()
    wall, cpu = time.perf_counter(), time.process_time()
    connection = sqlite3.connect(ledger)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    stamps = []
    for row in map(
        Queued._make,
        connection.execute(
            "SELECT id, key, to_address, to_name, subject, text, html, attachment_name, attachment FROM outbox "
            "WHERE sent_at IS NULL AND bounced_at IS NULL ORDER BY id"
        ),
    ):
        (outbox / (re.sub(r"[^A-Za-z0-9_.-]+", "_", row.key) + ".eml")).write_bytes(bytes(mail.build_message(row, COMPANY)))
        stamps.append((dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(" "), row.id))
    with connection:
        connection.executemany("UPDATE outbox SET sent_at = ?, attempts = attempts + 1 WHERE id = ?", stamps)
    connection.close()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert len(stamps) == len(list(outbox.iterdir())), "the floor wrote a file per message"
    return wall, cpu, len(stamps)


def time_build(template: Path) -> tuple[float, float, int]:
    """(wall, cpu, count) of build_message + bytes() over every row, read into memory first."""
    engine = make_engine(f"sqlite:///{template}")
    with Session(engine) as session:
        rows = list(session.scalars(select(OutboxMessage)))
    engine.dispose()
    wall, cpu = time.perf_counter(), time.process_time()
    for row in rows:
        bytes(mail.build_message(row, COMPANY))
    return time.perf_counter() - wall, time.process_time() - cpu, len(rows)


def load_mail(path: Path) -> None:
    """Measure the mail module at ``path`` instead of huikuan.outbox.mail."""
    global mail
    spec = importlib.util.spec_from_file_location("mail_under_test", path)
    mail = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mail  # for its dataclasses
    spec.loader.exec_module(mail)


def report(label: str, runs: list[tuple[float, float, int]]) -> tuple[float, float]:
    wall = statistics.median(r[0] for r in runs)
    cpu = statistics.median(r[1] for r in runs)
    n = runs[0][2]
    each = ", ".join(f"{r[0]:.2f}" for r in runs)
    print(
        f"{label:9} {n} msgs: median wall {wall:.2f} s ({n / wall:.0f} msg/s, {1000 * wall / n:.2f} ms/msg), cpu {1000 * cpu / n:.2f} ms/msg  [runs: {each} s]"
    )
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--attach-every", type=int, default=5)
    parser.add_argument("--chunk", type=int, help="messages a transaction in dispatch (its default when not given)")
    parser.add_argument("--mail", type=Path, help="a mail.py to measure instead of huikuan/outbox/mail.py")
    args = parser.parse_args()
    if args.mail:
        load_mail(args.mail)
    print(f"measuring {mail.__file__}")
    with tempfile.TemporaryDirectory(prefix="mail_bench_") as tmp:
        work = Path(tmp)
        template = work / "template.db"
        build_ledger(template, args.messages, args.attach_every)
        print(f"loadavg before: {Path('/proc/loadavg').read_text().strip()}  (cpus: {os.cpu_count()})")
        dispatched, floor = [], []
        for _ in range(args.repeat):
            dispatched.append(time_dispatch(template, work, args.chunk))
            floor.append(time_floor(template, work))
        wall, cpu = report("dispatch", dispatched)
        floor_wall, floor_cpu = report("floor", floor)
        report("build", [time_build(template) for _ in range(args.repeat)])
        load = Path("/proc/loadavg").read_text().strip()
        print(f"loadavg after:  {load}")
        print(f"ratio dispatch/floor: wall {wall / floor_wall:.2f}x, cpu {cpu / floor_cpu:.2f}x  (loadavg {' '.join(load.split()[:3])})")


if __name__ == "__main__":
    main()
