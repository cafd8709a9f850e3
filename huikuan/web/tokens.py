"""Signed links for customers and approvers, and the ERP's API keys.

A statement link carries ``customer|month|expiry`` and an HMAC-SHA256 of it,
keyed by the server's secret (the one the approval codes use,
:func:`huikuan.approvals.check.server_secret`), so it names one customer and one
month and nobody can make another without the secret. The page's CSRF token
is an HMAC of the link under another purpose, so a form posted with a token
from another link, or with none, is refused.

An approval link carries the request's key, the approver it was emailed to,
its expiry and the one-time code of that email, sealed (added to a pad that
only the secret gives, so the address shows no code), all signed alike. The
page answers the waiting run with that code, as the approver would type it in
the Prefect form: the run's own check (``execution.decide``) judges it, and
the code dies with the decision or the next round, and the link with it.

API keys are kept in the company file only as their SHA-256 (``huikuan web key
NAME`` makes one), compared in constant time.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import datetime as dt
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from huikuan.approvals.check import server_secret
from huikuan.ledger.settings import get_settings

_STATEMENT = b"huikuan statement link v1\n"  # the purpose, so a signature of one kind is never valid as another
_CSRF = b"huikuan statement form v1\n"
_APPROVAL = b"huikuan approval link v1\n"
_SEAL = b"huikuan approval code pad v1\n"
_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
KEY_HASH_PREFIX = "sha256:"
STATEMENT_PATH = "/s/"
APPROVAL_PATH = "/a/"
DEFAULT_PORT = 4300  # `huikuan web` and `huikuan start` (HUIKUAN_WEB_PORT)
PORT_ENV = "HUIKUAN_WEB_PORT"


class LinkRefused(Exception):
    """A link that was altered, is not ours, or has expired; ``expired`` tells which (410 rather than 403)."""

    def __init__(self, why: str, *, expired: bool = False) -> None:
        super().__init__(why)
        self.expired = expired


@dataclass(frozen=True)
class StatementLink:
    customer_id: str
    month: str
    expires_at: dt.datetime


@dataclass(frozen=True)
class ApprovalLink:
    key: str  # the request's, or a list's (review:…)
    person_id: str  # the approver it was emailed to
    code: str  # the one-time code of that email
    expires_at: dt.datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(purpose: bytes, payload: bytes) -> bytes:
    return hmac.new(server_secret(), purpose + payload, hashlib.sha256).digest()


EMAILED_LINK_DAYS = 30  # a link works at least this long after the email that carries it


def default_expiry(month: str, timezone: str = "Asia/Shanghai", *, emailed_on: dt.date | None = None) -> dt.datetime:
    """The end of the second month after the billing month (after the 20th's deadline, the follow-ups and the escalation),
    or ``EMAILED_LINK_DAYS`` after ``emailed_on`` when that is later (a late follow-up's link still works)."""
    year, number = (int(part) for part in month.split("-"))
    year, number = (year, number + 2) if number <= 10 else (year + 1, number - 10)
    last = dt.date(year, number, calendar.monthrange(year, number)[1])
    if emailed_on is not None:
        last = max(last, emailed_on + dt.timedelta(days=EMAILED_LINK_DAYS))
    return dt.datetime.combine(last, dt.time(23, 59, 59), ZoneInfo(timezone))


def statement_token(customer_id: str, month: str, *, expires_at: dt.datetime | None = None) -> str:
    """The signed token of one customer's statement of ``month`` (YYYY-MM)."""
    if not _MONTH.fullmatch(month):
        raise ValueError(f"the month must be YYYY-MM, not {month!r}")
    if "|" in customer_id or not customer_id:
        raise ValueError(f"not a customer id: {customer_id!r}")
    expires_at = expires_at or default_expiry(month, get_settings().timezone)
    if expires_at.tzinfo is None:
        raise ValueError("expires_at must be an aware datetime")
    payload = f"{customer_id}|{month}|{int(expires_at.timestamp())}".encode()
    return f"{_b64(payload)}.{_b64(_sign(_STATEMENT, payload))}"


def statement_link(customer_id: str, month: str, base_url: str, *, expires_at: dt.datetime | None = None) -> str:
    """The address of the customer's statement page, for the statement email (``base_url``: how customers reach ``huikuan web``)."""
    return base_url.rstrip("/") + STATEMENT_PATH + statement_token(customer_id, month, expires_at=expires_at)


def read_statement_token(token: str, *, now: dt.datetime) -> StatementLink:
    """The customer and month a token names.

    Raises:
        LinkRefused: the token is malformed or its signature is wrong (altered), or it has expired.
    """
    customer_id, month, expiry = _signed_payload(_STATEMENT, token).split("|")  # signed by us: well formed
    return StatementLink(customer_id, month, _unexpired(expiry, now))


def _signed_payload(purpose: bytes, token: str) -> str:
    """The payload of ``payload.signature`` when the signature is ours for ``purpose``."""
    try:
        payload_part, signature_part = token.split(".")
        payload, signature = _unb64(payload_part), _unb64(signature_part)
    except (ValueError, binascii.Error):
        raise LinkRefused("malformed token") from None
    if (_b64(payload), _b64(signature)) != (payload_part, signature_part):
        raise LinkRefused("malformed token")  # base64's spare bits altered: the same bytes, but not the link we sent
    if not hmac.compare_digest(signature, _sign(purpose, payload)):
        raise LinkRefused("wrong signature")
    return payload.decode()


def _unexpired(expiry: str, now: dt.datetime) -> dt.datetime:
    expires_at = dt.datetime.fromtimestamp(int(expiry), dt.UTC)
    if now >= expires_at:
        raise LinkRefused(f"expired at {expires_at.isoformat()}", expired=True)
    return expires_at


def base_url(company) -> str:
    """How people reach ``huikuan web``: the company file's ``web.base_url``, else this machine's address (``HUIKUAN_WEB_PORT``)."""
    configured = company.web.base_url if company is not None and company.web is not None else None
    return (configured or f"http://127.0.0.1:{os.environ.get(PORT_ENV) or DEFAULT_PORT}").rstrip("/")


def _pad(head: str) -> int:
    return int.from_bytes(_sign(_SEAL, head.encode())[:8], "big") % 10**6


def approval_token(key: str, person_id: str, code: str, *, expires_at: dt.datetime) -> str:
    """The signed token of the approval request (or list) ``key`` emailed to ``person_id`` with ``code``."""
    if not re.fullmatch(r"\d{6}", code):
        raise ValueError("a one-time code is six digits")
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", person_id):
        raise ValueError(f"not a person id: {person_id!r}")
    if expires_at.tzinfo is None:
        raise ValueError("expires_at must be an aware datetime")
    head = f"{key}|{person_id}|{int(expires_at.timestamp())}|{secrets.token_urlsafe(6)}"  # the nonce: a pad of its own for each link
    payload = f"{head}|{(int(code) + _pad(head)) % 10**6:06d}".encode()
    return f"{_b64(payload)}.{_b64(_sign(_APPROVAL, payload))}"


def approval_link(company, key: str, person_id: str, code: str, as_of: dt.date) -> str:
    """The approver's page of the request ``key`` for the email with ``code``: valid as long as the request (``approval_expiry_days``),
    counted from ``as_of`` or today, whichever is later (a rerun of an earlier day emails a link that works)."""
    last_day = max(as_of, get_settings().today()) + dt.timedelta(days=company.approval_expiry_days)
    expires_at = dt.datetime.combine(last_day, dt.time(23, 59, 59), ZoneInfo(company.timezone))
    return base_url(company) + APPROVAL_PATH + approval_token(key, person_id, code, expires_at=expires_at)


def read_approval_token(token: str, *, now: dt.datetime) -> ApprovalLink:
    """The request, approver and code a token names.

    Raises:
        LinkRefused: the token is malformed or altered, or it has expired.
    """
    head, sealed = _signed_payload(_APPROVAL, token).rsplit("|", 1)
    key, person_id, expiry, _nonce = head.rsplit("|", 3)  # the key may hold anything; the rest holds no "|"
    return ApprovalLink(key, person_id, f"{(int(sealed) - _pad(head)) % 10**6:06d}", _unexpired(expiry, now))


def csrf_token(link_token: str) -> str:
    """The form token of the page of ``link_token``: valid on that page's forms only."""
    return _b64(_sign(_CSRF, link_token.encode()))


def csrf_matches(link_token: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(csrf_token(link_token).encode(), given.encode())


def token_tag(token: str) -> str:
    """A short fingerprint of a token for the log and the rate limits (the token itself is a credential)."""
    return hashlib.sha256(token.encode()).hexdigest()[:12]


# -- API keys ----------------------------------------------------------------------------------


def new_api_key() -> str:
    """A new key for the ERP: 256 random bits, URL-safe."""
    return "hk_" + secrets.token_urlsafe(32)


def api_key_hash(key: str) -> str:
    """What the company file keeps of a key: ``sha256:<hex>`` (a long random key needs no slow hash)."""
    return KEY_HASH_PREFIX + hashlib.sha256(key.strip().encode()).hexdigest()


def matching_key(given: str | None, stored: Iterable[tuple[str, str]]) -> str | None:
    """The name of the stored key whose hash ``given`` has, or None; every stored hash is compared in constant time."""
    if not given:
        return None
    digest = api_key_hash(given).encode()
    found = None
    for name, key_hash in stored:
        if hmac.compare_digest(digest, key_hash.encode()) and found is None:
            found = name
    return found
