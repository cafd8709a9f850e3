"""How an answer to an approval is checked, for a single request and a list alike.

The one-time code (six digits, emailed; the ledger keeps only an HMAC of it,
keyed by the server's secret and salted by the request's key), who may decide
(the company file's roles), and the brake on guessing: after
``REFUSALS_PER_HOUR`` refused answers from one approver to one request in an
hour, further answers are refused without checking the code. ``check_answer``
is the check; ``note_refused`` remembers a refusal on the request. Used by
``huikuan.collection.execution.decide`` (one request) and
``huikuan.approvals.groups.decide_group`` (a list), and by the web approval page.

An answer given from outside the run (``huikuan approvals answer``, the
approver's page) is judged by the waiting run; ``wait_for_verdict`` reads what
it made of it back from the ledger: decided, refused and why, or not yet.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import re
import secrets
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from huikuan.ledger.company import Company
from huikuan.ledger.settings import get_settings
from models.enums import ApprovalState
from models.ledger import ActionTaken, Approval, ApprovalGroup

SECRET_ENV = "HUIKUAN_SECRET_KEY"
SECRET_FILE = "secret.key"  # in the data directory, mode 0600
HASH_PREFIX = "hmac-sha256:"  # a stored hash without it is an older version's plain SHA-256: never matches
REFUSALS_PER_HOUR = 5  # refused answers per approver and request in an hour; more are refused without checking the code
REFUSAL_WINDOW = dt.timedelta(hours=1)


def server_secret() -> bytes:
    """The key of the code hashes, the same for every process of the machine (the worker, the CLI, the server).

    ``HUIKUAN_SECRET_KEY`` when set; otherwise ``<data dir>/secret.key``, made
    once (256 random bits, mode 0600) by whichever process needs it first.
    """
    configured = os.environ.get(SECRET_ENV, "")
    if configured.strip():
        return configured.strip().encode()
    path = get_settings().data_dir / SECRET_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "w") as file:
                file.write(secrets.token_hex(32) + "\n")
                file.flush()
                os.fsync(file.fileno())
            try:
                os.link(draft, path)  # whole or not at all; a process that made it first wins, and this one reads its
            except FileExistsError:
                pass
        finally:
            draft.unlink(missing_ok=True)
    key = path.read_text(encoding="ascii").strip()
    if not key:
        raise RuntimeError(f"the secret key file {path} is empty: delete it (a new one is made; codes already emailed stop working) or set {SECRET_ENV}")
    return key.encode()


def code_hash(code: str, salt: str) -> str:
    """What the ledger keeps of a one-time code: an HMAC-SHA256 keyed by the server's secret, salted by the request's key."""
    digest = hmac.new(server_secret(), f"{salt}\n{code}".encode(), hashlib.sha256).hexdigest()
    return HASH_PREFIX + digest


def code_matches(code: str, salt: str, stored: str | None) -> bool:
    """The answer's code is the one whose hash is ``stored`` (constant time); an old plain SHA-256 never matches."""
    if not stored or not stored.startswith(HASH_PREFIX):
        return False
    return hmac.compare_digest(code_hash(code.strip(), salt), stored)


def is_old_hash(stored: str | None) -> bool:
    """A hash of an earlier version (plain SHA-256 of the code): no answer matches it, a new code must be sent."""
    return bool(stored) and not stored.startswith(HASH_PREFIX)


def _refusal_entries(log: str) -> list[tuple[str, dt.datetime]]:
    entries = []
    for line in (log or "").splitlines():
        who, _, at = line.partition("\t")
        try:
            entries.append((who, dt.datetime.fromisoformat(at)))
        except ValueError:
            continue
    return entries


def _who(approver: str) -> str:
    return " ".join(approver.split())[:64]


def answers_blocked_until(log: str, approver: str, at: dt.datetime) -> dt.datetime | None:
    """When ``approver`` may answer again, if their refused answers to this request in the last hour reached the limit."""
    recent = sorted(when for who, when in _refusal_entries(log) if who == _who(approver) and at - when < REFUSAL_WINDOW)
    if len(recent) < REFUSALS_PER_HOUR:
        return None
    return recent[-REFUSALS_PER_HOUR] + REFUSAL_WINDOW


def note_refusal(log: str, approver: str, at: dt.datetime) -> str:
    """The log of refused answers with this one, only the last hour kept."""
    kept = [(who, when) for who, when in _refusal_entries(log) if at - when < REFUSAL_WINDOW]
    return "\n".join(f"{who}\t{when.isoformat()}" for who, when in [*kept, (_who(approver), at)])


def blocked_message(approver: str, until: dt.datetime) -> str:
    local = until.astimezone(get_settings().tz)
    return (
        f"too many refused answers from {approver!r} to this request in an hour ({REFUSALS_PER_HOUR}); the code was not checked: "
        f"try again after {local:%Y-%m-%d %H:%M} ({get_settings().timezone})"
    )


def new_code() -> str:
    """A fresh six-digit one-time code."""
    return f"{secrets.randbelow(10**6):06d}"


class Asked(Protocol):
    """What is asked of an approver: a single request (``Approval``) or a list (``ApprovalGroup``)."""

    key: str
    action: str
    approver_role: str
    code_hash: str | None
    recent_refusals: str
    refusals: int


def check_answer(asked: Asked, *, approver: str, code: str, company: Company, at: dt.datetime) -> tuple[str | None, bool]:
    """Why the answer is refused (None: accepted as to person and code), and whether it was refused unchecked (blocked)."""
    blocked = answers_blocked_until(asked.recent_refusals, approver, at)
    if blocked is not None:
        return blocked_message(approver, blocked), True
    if not company.may_approve(approver, asked.action):
        return f"{approver!r} may not decide {asked.action} (it is for the {asked.approver_role})", False
    if not code_matches(code, asked.key, asked.code_hash):
        return "the code is wrong or no longer valid", False
    return None, False


def note_refused(asked: Asked, *, approver: str, at: dt.datetime, blocked: bool) -> None:
    """Count a refused answer on the request; a checked one joins the hour's log that the brake counts."""
    asked.refusals += 1
    if not blocked:
        asked.recent_refusals = note_refusal(asked.recent_refusals, approver, at)


def who(approver: str) -> str:
    """The approver as the refusal log keeps them: spaces folded, at most 64 characters."""
    return _who(approver)


# -- the run's judgement, read back ------------------------------------------------

POLL_SECONDS = 0.5
_REFUSED_BY = re.compile(r"[^:]*: answer of (?:'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"): ")  # how execution.decide begins the line


@dataclass(frozen=True)
class Verdict:
    """What the waiting run made of an answer, as the ledger shows it.

    ``outcome``: ``approved`` or ``denied`` (decided, and carried out when approved),
    ``refused`` (nothing decided; the run waits for another answer) or ``pending``
    (not judged yet).
    """

    outcome: str
    action: str
    decided_by: str | None = None
    logged: str = ""  # refused: the run's line for a single request (a list's refusals are in the run's log only)
    decided: int = 0  # a list decided: how many of its requests
    held: tuple[str, ...] = ()  # a list decided: the customers held back, each to be asked for alone

    @property
    def accepted(self) -> bool | None:
        """True: decided; False: refused; None: not judged yet."""
        return None if self.outcome == "pending" else self.outcome != "refused"

    @property
    def why(self) -> str:
        """A refusal's reason without the action and the approver the run's line names first."""
        found = _REFUSED_BY.match(self.logged)
        return self.logged[found.end() :] if found else self.logged


def read_verdict(session: Session, key: str, *, refusals_before: int) -> Verdict:
    """The judgement of the request or list ``key`` now: decided (it left ``requested``), refused (its refusals
    went past ``refusals_before``, the count when the answer was given) or pending."""
    from huikuan.approvals.groups import is_group_key  # not at the top: that module imports this one

    group = is_group_key(key)
    model = ApprovalGroup if group else Approval
    request = session.scalar(select(model).where(model.key == key))
    if request.state is not ApprovalState.requested:
        if not group:
            return Verdict(request.state.value, request.action, request.decided_by)
        members = session.scalars(select(Approval).where(Approval.group_key == key)).all()
        decided = sum(1 for m in members if not m.held and m.state is request.state)
        return Verdict(request.state.value, request.action, request.decided_by, decided=decided, held=tuple(sorted(m.customer_id for m in members if m.held)))
    if request.refusals > refusals_before:
        logged = (
            None
            if group
            else session.scalar(
                select(ActionTaken.detail)
                .where(ActionTaken.action == "approval_refused", ActionTaken.key.startswith(f"{key}:", autoescape=True))
                .order_by(ActionTaken.id.desc())
                .limit(1)
            )
        )
        return Verdict("refused", request.action, logged=logged or "")
    return Verdict("pending", request.action)


def wait_for_verdict(
    sessions: Callable[[], AbstractContextManager[Session]], key: str, *, refusals_before: int, wait: float, poll: float = POLL_SECONDS
) -> Verdict:
    """The run's judgement of the answer just given to ``key``, read every ``poll`` seconds in a session of ``sessions``;
    ``pending`` after ``wait`` seconds."""
    deadline = time.monotonic() + wait
    while True:
        with sessions() as session:
            verdict = read_verdict(session, key, refusals_before=refusals_before)
        if verdict.accepted is not None or time.monotonic() >= deadline:
            return verdict
        time.sleep(poll)
