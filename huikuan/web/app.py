"""The FastAPI application: the ERP's API under ``/api``, the customer's pages under ``/s``, the approver's under ``/a``."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from huikuan.ledger.company import Company, load_company
from huikuan.ledger.db import engine_for
from huikuan.ledger.settings import get_settings
from huikuan.web.limits import RateLimiter

log = logging.getLogger("huikuan.web")


@dataclass
class WebContext:
    """What every request needs, built once: the ledger, the company, the clock, the rate limits, and the way to answer a waiting run."""

    engine: Engine
    company: Company | None
    today: Callable[[], dt.date]
    now: Callable[[], dt.datetime]
    resume: Callable[[str, dict[str, str]], None]  # (run id, answer): huikuan.approvals.runs.resume_waiting_run
    answer_wait: float = 20.0  # seconds an approver's page waits for the run to judge the answer before saying it is on its way
    per_address: RateLimiter = field(default_factory=lambda: RateLimiter(60, 60))  # page loads and posts per IP a minute
    per_link: RateLimiter = field(default_factory=lambda: RateLimiter(20, 3600))  # posts per link an hour
    refused: RateLimiter = field(default_factory=lambda: RateLimiter(10, 3600))  # bad links per IP an hour, then every link is refused

    def __post_init__(self) -> None:
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed on success, rolled back on any error."""
        with self._sessions.begin() as session:
            yield session

    def api_keys(self) -> list[tuple[str, str]]:
        web = self.company.web if self.company else None
        return [(key.name, key.key_hash) for key in web.api_keys] if web else []


def _company_or_none(path: Path) -> Company | None:
    if not path.exists():
        log.warning("no company file at %s: the API refuses every key and nobody is told of confirmations", path)
        return None
    return load_company(path)


def create_app(
    *,
    engine: Engine | None = None,
    company: Company | None = None,
    today: Callable[[], dt.date] | None = None,
    now: Callable[[], dt.datetime] | None = None,
    resume: Callable[[str, dict[str, str]], None] | None = None,
) -> FastAPI:
    """The application; by default the ledger, company file and clock of the settings, and the Prefect server of ``huikuan start``.

    ``resume`` gives an approver's answer to the waiting run (tests give their own).

    Raises:
        CompanyFileError: the company file is invalid.
    """
    from huikuan.approvals.runs import resume_waiting_run
    from huikuan.web import api, approval, statement

    settings = get_settings()
    context = WebContext(
        engine=engine or engine_for(),
        company=company if company is not None else _company_or_none(settings.company_file),
        today=today or settings.today,
        now=now or (lambda: dt.datetime.now(dt.UTC)),
        resume=resume or resume_waiting_run,
    )
    app = FastAPI(
        title="huikuan (回款) API",
        description="For the ERP and the warehouse: may goods leave for a customer, and the customer's account. "
        "Send the key in the `X-API-Key` header (or `Authorization: Bearer KEY`). Amounts are decimal strings.",
        version="1",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.web = context
    app.include_router(api.router)
    app.include_router(statement.router)
    app.include_router(approval.router)

    @app.get("/health", include_in_schema=False)
    def _health() -> PlainTextResponse:
        return PlainTextResponse("ok")

    @app.exception_handler(Exception)
    async def _no_traceback(request: Request, exc: Exception):
        log.exception("error answering %s %s", request.method, request.url.path)
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": "internal error; it was logged"}, status_code=500)
        return PlainTextResponse("Something went wrong on our side; please try again later. 系统出错，请稍后再试。", status_code=500)

    return app


def context_of(request: Request) -> WebContext:
    return request.app.state.web
