"""The web tests' ledger (tests/test_web_api.py, test_web_approval.py, test_web_statement.py, test_approval_verdict.py).

Counted by hand (as of 2026-11-10):
- W1 (limit 20,000.00) owes I1 10,000.00 (due 09-30, 41 days late) and I2 5,000.00 (due 11-30, not due),
  and has 2 deliveries of October not yet invoiced (1,200.00 + 800.00): owed 17,000.00;
- W2 is cash only, W3 is locked (because of I4, 3,000.00, due 08-31), W4 owes nothing (no limit);
- W5 (English) is the statement page's customer in tests/test_web_statement.py.

The ``web_ledger`` fixture of tests/conftest.py holds it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from huikuan.approvals import groups as approval_groups
from huikuan.collection import execution
from huikuan.ledger import account_state
from huikuan.ledger.company import EXAMPLE, ApiKey, WebSection, parse_company
from huikuan.ledger.importer import import_files
from huikuan.web.tokens import api_key_hash
from models.ledger import Approval, Customer
from tests.ledger_files import write_files

KEY = "hk_test-key-for-the-erp-0123456789abcdef"
TODAY = dt.date(2026, 11, 10)
COMPANY = parse_company(EXAMPLE).model_copy(update={"web": WebSection(api_keys=[ApiKey(name="erp", key_hash=api_key_hash(KEY))])})
NASTY = '<script>alert("x")</script>'
FILES = {
    "customers": "customer_id,name,email,phone,contact_name,locale,credit_limit,collector\n"
    "W1,杭州华信贸易有限公司,w1@example.cn,1,王伟,zh_CN,20000.00,c01\n"
    "W2,恒达物流有限公司,w2@example.cn,2,李娜,zh_CN,50000.00,c02\n"
    "W3,深圳远航电子有限公司,w3@example.cn,3,陈静,zh_CN,,c01\n"
    "W4,无欠款有限公司,w4@example.cn,4,刘洋,zh_CN,,\n"
    f'W5,"Acme {NASTY.replace(chr(34), chr(34) * 2)} Ltd",w5@example.com,5,Jane,en,,c02\n',
    "invoices": "invoice_id,customer_id,issued_on,due_on,amount\n"
    "I1,W1,2026-08-31,2026-09-30,10000.00\nI2,W1,2026-10-31,2026-11-30,5000.00\nI4,W3,2026-07-31,2026-08-31,3000.00\n"
    "I5,W5,2026-09-30,2026-10-30,700.00\n",
    "charges": "charge_id,customer_id,delivered_on,amount,description\n"
    "D1,W1,2026-10-08,1200.00,钢管 Φ50 × 40 根\nD2,W1,2026-10-22,800.00,法兰 DN50 × 20 套\n"
    f'D5,W5,2026-10-15,450.50,"{NASTY.replace(chr(34), chr(34) * 2)} valves"\n',
}


def build(engine: Engine, folder: Path) -> Engine:
    """The ledger above in ``engine`` (the import files written to ``folder``), with W2 cash only and W3 locked."""
    paths = write_files(folder, FILES)
    with Session(engine) as session, session.begin():
        import_files(session, paths)
        account_state.apply_effect(session, session.get(Customer, "W2"), "cash_only", dt.date(2026, 11, 2), cause="W2:cash_only:2026-11-02", reason="test")
        account_state.apply_effect(
            session,
            session.get(Customer, "W3"),
            "lock",
            dt.date(2026, 11, 5),
            cause="W3:stop_shipment:2026-11-05",
            reason="approved by the boss",
            invoices=("I4",),
        )
    return engine


def statements_for_review(session: Session, company=COMPANY) -> str:
    """W1's and W5's October statements prepared and their sending asked of the supervisor: the key of the one list they form."""
    for customer_id in ("W1", "W5"):
        execution.prepare_statement(session, session.get(Customer, customer_id), "2026-10", dt.date(2026, 11, 5))
        session.add(
            Approval(
                key=f"approval:{customer_id}:send_statement:{TODAY}",
                customer_id=customer_id,
                action="send_statement",
                approver_role="supervisor",
                requested_on=TODAY,
                invoices="",
            )
        )
    session.flush()
    (key,) = approval_groups.form_groups(session, company)
    return key
