"""The approval runs on the Prefect server: reaching the server, and giving a waiting run its answer.

An approval is a flow run suspended on the server, waiting for a ``RunInput`` form (DESIGN.md, "Approvals").
The Prefect UI's Resume form, ``huikuan approvals answer`` and the approval page of the web service all give
the answer the same way (``resume_waiting_run``); the run itself checks it (``huikuan.approvals.check``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from huikuan.ledger.settings import get_settings

AUTH_FILE_NAME = "auth-string"  # in PREFECT_HOME (<data dir>/prefect): the local stack's user:password


class ServerPasswordError(RuntimeError):
    """The local server's password file is there but cannot be read."""


class RunNotWaiting(RuntimeError):
    """The run takes no answer now: it has ``ended`` (the next daily run asks again with a new code), or it is judging the last one."""

    def __init__(self, run_id: str, *, ended: bool) -> None:
        super().__init__(f"run {run_id} does not wait for an answer ({'ended' if ended else 'busy'})")
        self.run_id, self.ended = run_id, ended


def auth_file(home: Path) -> Path:
    """Where the local stack keeps its ``user:password``: ``<PREFECT_HOME>/auth-string``."""
    return home / AUTH_FILE_NAME


@contextlib.contextmanager
def local_client_settings() -> Iterator[None]:
    """Prefect's client in this process talks to the server ``huikuan start`` runs, unless the environment names another one.

    PREFECT_API_URL and PREFECT_API_AUTH_STRING from the environment win (a stack sets them
    for its processes); otherwise the local server (port HUIKUAN_SERVER_PORT) with the
    password kept in the data directory.

    Raises:
        ServerPasswordError: the password file is there but cannot be read.
    """
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    os.environ.setdefault("PREFECT_API_URL", f"http://127.0.0.1:{os.environ.get('HUIKUAN_SERVER_PORT', '4200')}/api")
    updates = {PREFECT_API_URL: os.environ["PREFECT_API_URL"]}
    password_file = auth_file(get_settings().data_dir / "prefect")
    if not os.environ.get("PREFECT_API_AUTH_STRING") and password_file.exists():
        try:
            updates[PREFECT_API_AUTH_STRING] = password_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ServerPasswordError(f"cannot read the server's password in {password_file}: {exc.strerror}") from None
    with temporary_settings(updates=updates):
        yield


def resume_waiting_run(run_id: str, answer: dict[str, str]) -> None:
    """Give ``answer`` to the run waiting for it, as the Resume form of the Prefect UI does; the run judges it.

    Raises:
        RunNotWaiting: the run does not wait for an answer now (ended, or judging the previous one).
        prefect.exceptions.ObjectNotFound: the server has no such run.
        ServerPasswordError: the server's password cannot be read.
        httpx.HTTPError, OSError: the server cannot be reached.
    """
    from prefect.exceptions import FlowPauseTimeout, NotPausedError
    from prefect.flow_runs import resume_flow_run

    with local_client_settings():
        try:
            resume_flow_run(run_id, run_input=answer)
        except (NotPausedError, FlowPauseTimeout, RuntimeError):
            raise RunNotWaiting(run_id, ended=_run_ended(run_id)) from None


def _run_ended(run_id: str) -> bool:
    """Whether the run has ended (or cannot be read): no answer will reach it any more."""
    from prefect.client.orchestration import get_client

    try:
        with get_client(sync_client=True) as client:
            state = client.read_flow_run(run_id).state
    except Exception:  # noqa: BLE001 - the reason is best effort; the answer was not taken either way
        return True
    return state is None or state.is_final()
