"""The Prefect side of huikuan: a Prefect server with its UI, the deployments, process workers.

``LocalStack`` is the embedded default (``huikuan start``): it starts ``prefect
server start`` (SQLite, ``PREFECT_HOME`` under the data directory) on a fixed
host and port, waits until it answers, creates the process work pool, applies
every deployment (none paused) and starts ``prefect worker start`` on the pool,
in the current directory and with the ``HUIKUAN_*`` settings, so that flow runs
use the same ledger and company file as the ``huikuan`` command. Used as a
context manager it stops the worker, then the server, whatever happens::

    with LocalStack(port=4200) as stack:
        print(stack.ui_url)

The pieces also start alone, for a company that runs them on several machines
(``docs/multi-machine.md``): ``start_server()`` and ``register()`` are
``huikuan server`` (the server on PostgreSQL with basic auth, the pool, the
deployments; no worker), ``start_worker()`` with ``server_url`` is ``huikuan
worker`` (a worker on another machine, pointed at that server). A flow run
works in the directory of the worker that runs it (``HUIKUAN_WORK_DIR``, the
deployments' pull step ``enter_work_dir``), not in the server's.

Both processes run in their own session: a Ctrl-C at the terminal reaches
``huikuan start`` alone, which then stops them in order.

``huikuan start`` also runs the web service beside them (``web_port``: the
customers' statement pages, the approvers' pages and the ERP's API,
``huikuan.web``); the approvers' pages answer the waiting runs through this
server (``huikuan.approvals.runs.resume_waiting_run``), as ``huikuan approvals answer`` does.

A server started here is closed to other web pages (issue #12): it demands a
``user:password`` (``huikuan start`` generates one on its first start and keeps
it in ``<data dir>/prefect/auth-string``, mode 0600: ``local_auth_string``),
answers cross-origin requests only from its own UI's origin, and refuses a
changing request (POST, PATCH, DELETE) without a CSRF token of its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from uuid import UUID

from sqlalchemy.engine import make_url

from huikuan.approvals.runs import auth_file
from huikuan.ledger.settings import Settings, get_settings

WORK_POOL = "huikuan"
WORKER_NAME = "huikuan-worker"
WORK_DIR_VARIABLE = "HUIKUAN_WORK_DIR"  # in a worker's environment: where its flow runs work
LOOPBACK = ("127.0.0.1", "localhost", "::1")
_ANY_ADDRESS = ("0.0.0.0", "::", "")
AUTH_USER = "huikuan"
# How often the worker asks the server for runs to start (Prefect's default: 10 s). A spread day's collect-batch runs,
# an approval request's waiting run and a deployment run started from the UI waited up to that long for it; a poll is
# two small requests (issue #18). The environment's PREFECT_WORKER_QUERY_SECONDS wins.
WORKER_QUERY_SECONDS = 2


class StackError(RuntimeError):
    """The server or the worker did not start, or stopped; the message ends with its log's last lines."""


@dataclass(frozen=True)
class DeploymentStatus:
    full_name: str
    paused: bool
    schedules: tuple[str, ...]  # "cron (time zone)" of each active schedule
    inactive_schedules: int
    tags: tuple[str, ...]


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def huikuan_environment(settings: Settings, cwd: Path) -> dict[str, str]:
    """The ``HUIKUAN_*`` settings as environment variables, paths made absolute against ``cwd``."""
    url = make_url(settings.database_url)
    if url.drivername.startswith("sqlite") and url.database not in (None, "", ":memory:") and not Path(url.database).is_absolute():
        url = url.set(database=str((cwd / url.database).resolve()))
    return {
        "HUIKUAN_DATABASE_URL": url.render_as_string(hide_password=False),
        "HUIKUAN_TIMEZONE": settings.timezone,
        "HUIKUAN_CLOSED_DAYS": json.dumps([d.isoformat() for d in settings.closed_days]),
        "HUIKUAN_DATA_DIR": str((cwd / settings.data_dir).resolve()),
        "HUIKUAN_COMPANY_FILE": str((cwd / settings.company_file).resolve()),
        "HUIKUAN_POLICY": settings.policy if not (cwd / settings.policy).is_file() else str((cwd / settings.policy).resolve()),
        "HUIKUAN_RETRY_DELAY_SECONDS": str(settings.retry_delay_seconds),
    }


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on now (for tests and a second stack)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def prefect_database_url(url: str) -> str:
    """The Prefect server's database URL with the async driver Prefect needs (asyncpg, aiosqlite).

    ``postgresql://``, ``postgresql+psycopg://`` and ``postgresql+asyncpg://`` name the same
    database: the first two are rewritten to the third.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        parsed = parsed.set(drivername="postgresql+asyncpg")
    elif backend == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    else:
        raise StackError(f"the Prefect server keeps its state in PostgreSQL or SQLite, not {backend} ({parsed.render_as_string(hide_password=True)})")
    return parsed.render_as_string(hide_password=False)


def check_auth_string(value: str) -> str:
    """``user:password`` for basic auth; the error never repeats the value."""
    user, sep, password = value.partition(":")
    if not (sep and user and password):
        raise StackError("the auth string must be user:password (both not empty)")
    return value


def local_auth_string(home: Path) -> tuple[str, bool]:
    """The local stack's ``user:password`` and whether it was generated just now.

    Read from ``auth_file(home)``; when there is none, a random one is written there
    (created with mode 0600, so that no other user of the machine can read it) and
    kept for every later start, so that the UI's login and the shells that hold it
    stay valid. A damaged file is an error, never silently replaced.
    """
    path = auth_file(home)
    if path.exists():
        try:
            return check_auth_string(path.read_text(encoding="utf-8").strip()), False
        except StackError as exc:
            raise StackError(f"{path}: {exc}; delete the file to have a new one generated") from None
    home.mkdir(parents=True, exist_ok=True)
    value = f"{AUTH_USER}:{secrets.token_urlsafe(18)}"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(value + "\n")
    return value, True


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL: what a browser sends as ``Origin``."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def enter_work_dir() -> dict[str, str]:
    """The huikuan deployments' pull step: a flow run works in the directory of the worker running it.

    ``huikuan start`` and ``huikuan worker`` set ``HUIKUAN_WORK_DIR`` in the worker's
    environment, which the flow run inherits; the deployment itself names no path, so
    the server and each worker machine may keep their files in different places.
    """
    directory = os.environ.get(WORK_DIR_VARIABLE)
    if not directory:
        raise RuntimeError(f"{WORK_DIR_VARIABLE} is not set: start the worker with `huikuan worker` (or `huikuan start`), not `prefect worker start`")
    os.chdir(directory)
    return {"directory": directory}


def _worker_directory_storage():
    """Deployment storage whose pull step is ``enter_work_dir`` (the code itself is installed on each worker)."""
    from prefect.runner.storage import LocalStorage

    class WorkerDirectory(LocalStorage):
        def to_pull_step(self) -> dict:
            return {f"{__name__}.enter_work_dir": {}}

    return WorkerDirectory(".")


@dataclass
class LocalStack:
    """A Prefect server, the huikuan deployments and one process worker, started and stopped together.

    ``start()`` starts all three on this machine (``huikuan start``); ``start_server()``
    with ``register()``, and ``start_worker()``, start the pieces one by one
    (``huikuan server``, ``huikuan worker``).

    Args:
        port: the server's port on ``host`` (API under ``/api``, UI at ``/``); loopback only by default.
        home: ``PREFECT_HOME`` (the server's SQLite database, logs); default ``<data dir>/prefect``.
        cwd: where the worker and the flow runs work (default: the current directory).
        settings: the huikuan settings handed to the worker (default: from the environment).
        work_pool: the process work pool, created when missing and resumed when paused.
        startup_timeout: seconds to wait for the server, then for the worker.
        stop_timeout: seconds each process has to stop before it is killed.
        extra_env: more environment for both processes (e.g. ``PREFECT_WORKER_QUERY_SECONDS``).
        auth_string: ``user:password``: the server started here demands it (basic auth) and every
            client of this stack (worker, flow runs, this process) sends it.
        server_database_url: the Prefect server's own database (default: SQLite under ``home``);
            a PostgreSQL URL in any driver spelling (asyncpg is used).
        server_url: the API of a server running elsewhere (``http://host:4200/api``): no server
            is started here, the worker and this process's client talk to that one.
        public_url: how browsers on other machines reach the server (``http://host:4200``), when it
            listens on every interface; the UI calls the API there.
        worker_name: the worker's name in the pool: one name per machine.
        web_port: the web service's port on ``web_host`` (``huikuan web``), started by ``start()``
            after the worker; None: no web service here.
        web_host: where the web service listens (this machine only by default; a TLS proxy in front for the internet).
    """

    port: int = 4200
    host: str = "127.0.0.1"
    home: Path | None = None
    cwd: Path | None = None
    settings: Settings | None = None
    work_pool: str = WORK_POOL
    startup_timeout: float = 180.0
    stop_timeout: float = 20.0
    extra_env: dict[str, str] = field(default_factory=dict)
    auth_string: str | None = field(default=None, repr=False)  # secrets stay out of reprs and tracebacks
    server_database_url: str | None = field(default=None, repr=False)
    server_url: str | None = None
    public_url: str | None = None
    worker_name: str = WORKER_NAME
    web_port: int | None = None
    web_host: str = "127.0.0.1"
    server: subprocess.Popen | None = field(default=None, init=False)
    worker: subprocess.Popen | None = field(default=None, init=False)
    web: subprocess.Popen | None = field(default=None, init=False)
    deployments: dict[str, UUID] = field(default_factory=dict, init=False)  # ids by full name
    recovered: list[str] = field(default_factory=list, init=False)  # interrupted runs found at start
    _logs: list[IO] = field(default_factory=list, init=False)
    _roles: list[str] = field(default_factory=list, init=False)  # "server", "worker", "web": what runs here

    def __post_init__(self) -> None:
        self.settings = self.settings or get_settings()
        self.cwd = (self.cwd or Path.cwd()).resolve()
        self.home = (self.home or self.cwd / self.settings.data_dir / "prefect").resolve()
        if self.auth_string is not None:
            check_auth_string(self.auth_string)
        if self.server_database_url is not None:
            self.server_database_url = prefect_database_url(self.server_database_url)
        if self.server_url is not None:
            self.server_url = self.server_url.rstrip("/")
        if self.public_url is not None:
            self.public_url = self.public_url.rstrip("/")

    # -- where things are --------------------------------------------------------

    @property
    def _local_host(self) -> str:
        """Where this machine reaches its own server (a wildcard address is not one to connect to)."""
        return "127.0.0.1" if self.host in _ANY_ADDRESS else self.host

    @property
    def ui_url(self) -> str:
        if self.server_url is not None:
            return self.server_url.removesuffix("/api") + "/"
        return f"{self.public_url}/" if self.public_url else f"http://{self._local_host}:{self.port}/"

    @property
    def api_url(self) -> str:
        return self.server_url or f"http://{self._local_host}:{self.port}/api"

    @property
    def public_api_url(self) -> str:
        """The API as other machines name it (what their ``PREFECT_API_URL`` should be)."""
        return f"{self.public_url}/api" if self.public_url else self.api_url

    @property
    def ui_origins(self) -> list[str]:
        """The origins a browser shows the UI under: the only ones the API answers cross-origin."""
        origins = [origin_of(self.ui_url)]
        if self.public_url is None and self._local_host == "127.0.0.1":
            origins.append(f"http://localhost:{self.port}")
        return origins

    @property
    def web_url(self) -> str | None:
        """The web service's address on this machine (statement and approval pages, the API), when it runs here."""
        host = "127.0.0.1" if self.web_host in _ANY_ADDRESS else self.web_host
        return f"http://{host}:{self.web_port}/" if self.web_port else None

    @property
    def server_log(self) -> Path:
        return self.home / "server.log"

    @property
    def worker_log(self) -> Path:
        return self.home / "worker.log"

    @property
    def web_log(self) -> Path:
        return self.home / "web.log"

    def prefect_environment(self) -> dict[str, str]:
        """What points a Prefect process at this server (and keeps it from installing anything)."""
        env = {"PREFECT_HOME": str(self.home), "PREFECT_API_URL": self.api_url, "PREFECT_RUNNER_AUTO_INSTALL_DEPENDENCIES": "false"}
        if self.server_url is None:  # the server runs here
            env["PREFECT_SERVER_API_HOST"] = self.host
            env["PREFECT_SERVER_API_PORT"] = str(self.port)  # the UI finds the API by it
            if self.public_url:
                env["PREFECT_UI_API_URL"] = self.public_api_url
            if self.server_database_url:
                env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = self.server_database_url
            if self.auth_string:
                env["PREFECT_SERVER_API_AUTH_STRING"] = self.auth_string
            # Another web page open in the same browser may neither read the API's answers
            # (CORS: the UI's own origin only) nor change anything (a CSRF token the server gave).
            env["PREFECT_SERVER_API_CORS_ALLOWED_ORIGINS"] = ",".join(self.ui_origins)
            env["PREFECT_SERVER_API_CSRF_PROTECTION_ENABLED"] = "true"
        if self.auth_string:
            env["PREFECT_API_AUTH_STRING"] = self.auth_string
        return env

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "HUIKUAN_"))}
        env.update({k: v for k, v in os.environ.items() if k.startswith("PREFECT_") and k not in ("PREFECT_API_KEY", "PREFECT_PROFILE")})
        env.update(self.prefect_environment())
        env.setdefault("PREFECT_WORKER_QUERY_SECONDS", str(WORKER_QUERY_SECONDS))
        # An offline machine would log a failed telemetry call at every start; a company may opt in.
        env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        env.update(huikuan_environment(self.settings, self.cwd))
        env[WORK_DIR_VARIABLE] = str(self.cwd)
        if self.web_port:  # the links in the emails the worker sends name this port (without web.base_url in the company file)
            env["HUIKUAN_WEB_PORT"] = str(self.web_port)
        env.update(self.extra_env)
        return env

    @contextlib.contextmanager
    def client_settings(self) -> Iterator[None]:
        """Prefect's client in this process talks to this server inside the block (with the password, if any)."""
        from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

        updates = {PREFECT_API_URL: self.api_url}
        if self.auth_string:
            updates[PREFECT_API_AUTH_STRING] = self.auth_string
        with temporary_settings(updates=updates):
            yield

    # -- start and stop ------------------------------------------------------------

    def start(self) -> LocalStack:
        """Server, work pool, deployments, worker (and the web service); on any failure what was started is stopped again."""
        try:
            self.start_server()
            self.register(recover=True)
            self.start_worker()
            if self.web_port:
                self.start_web()
        except BaseException:
            self.stop()
            raise
        return self

    def start_server(self) -> LocalStack:
        """The Prefect server alone (it migrates its own database as it starts), until it answers."""
        if self.server_url is not None:
            raise StackError(f"this stack uses the server at {self.server_url}: it starts none")
        self._roles.append("server")
        self._start_server()
        self._wait_healthy()
        return self

    def register(self, recover: bool = False) -> dict[str, UUID]:
        """The work pool and every deployment on the server (idempotent).

        With ``recover`` (one machine: the server was down, so nothing runs any more) the
        runs the last stop cut short are rescheduled first; with workers on other machines
        that may still be running them, leave it off.
        """
        with self.client_settings():
            self._ensure_work_pool()
            if recover:
                self.recovered = self._recover_interrupted_runs()
            self.deployments = self._apply_deployments()
        return self.deployments

    def start_worker(self, recover: bool = False) -> LocalStack:
        """A process worker on the pool, until the server lists it online.

        With ``recover``, the runs a previous worker of the same name left Running or
        Pending (it died: killed, power cut) are first scheduled again.
        """
        self._roles.append("worker")
        self._wait_healthy()
        with self.client_settings():
            self._check_work_pool()
            if recover:
                self.recovered = self._recover_interrupted_runs(worker_name=self.worker_name)
        self._start_worker()
        self._wait_worker_online()
        return self

    def start_web(self) -> LocalStack:
        """The web service (``huikuan web``) with this stack's settings, until it answers; its answers to approvals reach this server."""
        if not port_is_free(self.web_host, self.web_port):
            raise StackError(
                f"port {self.web_port} on {self.web_host} is in use: is another `huikuan web` running? "
                "Stop it, or choose another port (--web-port or HUIKUAN_WEB_PORT)."
            )
        self._roles.append("web")
        self.web = self._popen(["huikuan.cli", "web", "--host", self.web_host, "--port", str(self.web_port)], self.web_log, module=None)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.web.poll() is not None:
                raise StackError(f"the web service exited with status {self.web.returncode}; {self.web_log}:\n{log_tail(self.web_log)}")
            try:
                with urllib.request.urlopen(f"{self.web_url}health", timeout=5) as response:
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.3)
        raise StackError(f"the web service did not answer {self.web_url}health within {self.startup_timeout:.0f}s; {self.web_log}:\n{log_tail(self.web_log)}")

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _popen(self, args: list[str], log: Path, module: str | None = "prefect") -> subprocess.Popen:
        """``python -m prefect ARGS`` (or ``python -m ARGS`` without ``module``) in its own session, logging to ``log``."""
        log.parent.mkdir(parents=True, exist_ok=True)
        out = open(log, "a", encoding="utf-8")  # noqa: SIM115 - closed in stop()
        self._logs.append(out)
        out.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(args)}\n")
        out.flush()
        return subprocess.Popen(
            [sys.executable, "-m", *([module] if module else []), *args],
            env=self.environment(),
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def _start_server(self) -> None:
        if not port_is_free(self.host, self.port):
            raise StackError(
                f"port {self.port} on {self.host} is in use: is another `huikuan start` or Prefect server running? "
                "Stop it, or choose another port (--port or HUIKUAN_SERVER_PORT)."
            )
        self.home.mkdir(parents=True, exist_ok=True)
        self.server = self._popen(["server", "start", "--host", self.host, "--port", str(self.port)], self.server_log)

    def _wait_healthy(self) -> None:
        """Until ``/api/health`` answers (it needs no password); a server started here must not exit meanwhile."""
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.server is not None and self.server.poll() is not None:
                raise StackError(f"the Prefect server exited with status {self.server.returncode}; {self.server_log}:\n{log_tail(self.server_log)}")
            try:
                with urllib.request.urlopen(f"{self.api_url}/health", timeout=5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        where = f"{self.server_log}:\n{log_tail(self.server_log)}" if self.server is not None else "is it running, and may this machine reach its port?"
        raise StackError(f"the Prefect server did not answer {self.api_url}/health within {self.startup_timeout:.0f}s; {where}")

    def _ensure_work_pool(self) -> None:
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.actions import WorkPoolCreate, WorkPoolUpdate
        from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
        from prefect.workers.process import ProcessWorker

        with _refused_password(self), get_client(sync_client=True) as client:
            try:
                pool = client.read_work_pool(self.work_pool)
            except ObjectNotFound:
                with contextlib.suppress(ObjectAlreadyExists):
                    client.create_work_pool(
                        WorkPoolCreate(
                            name=self.work_pool,
                            type="process",
                            base_job_template=ProcessWorker.get_default_base_job_template(),
                            description="huikuan's flow runs, as processes on the machines that run `huikuan start` or `huikuan worker`",
                        )
                    )
                pool = client.read_work_pool(self.work_pool)
            if pool.type != "process":
                raise StackError(f"the work pool {self.work_pool!r} is of type {pool.type!r}, not process")
            if pool.is_paused:
                client.update_work_pool(self.work_pool, WorkPoolUpdate(is_paused=False))

    def _check_work_pool(self) -> None:
        """A worker machine creates nothing: the server (``huikuan server``) made the pool and the deployments."""
        from prefect.client.orchestration import get_client
        from prefect.exceptions import ObjectNotFound

        with _refused_password(self), get_client(sync_client=True) as client:
            try:
                pool = client.read_work_pool(self.work_pool)
            except ObjectNotFound:
                raise StackError(f"the server at {self.api_url} has no work pool {self.work_pool!r}: start `huikuan server` there first") from None
        if pool.type != "process":
            raise StackError(f"the work pool {self.work_pool!r} is of type {pool.type!r}, not process")

    def _apply_deployments(self) -> dict[str, UUID]:
        """Every deployment (``deployments/deploy.py``), its runs working in their worker's directory."""
        from deployments.deploy import build_deployments

        storage = _worker_directory_storage()
        applied = {}
        for deployment in build_deployments(self.work_pool, self.settings.timezone, self.cwd):
            deployment.storage = storage
            applied[f"{deployment.flow_name}/{deployment.name}"] = deployment.apply(work_pool_name=self.work_pool)
        return applied

    def _recover_interrupted_runs(self, worker_name: str | None = None) -> list[str]:
        """Runs the last stop (or a crash) cut short: the server was down, so no process runs them any more.

        Without this they would show as Running (or Pending) for ever. A deployment's
        run on this pool is scheduled again (rerunning is safe: each action is taken
        once, an approval's answers are kept); a subflow inside one is marked Crashed,
        as its parent run does the work again. With ``worker_name``, only the runs that
        worker took (Prefect labels each run with its worker's name): a worker that
        starts again after dying picks up its own, and leaves the other machines' alone.
        """
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
        from prefect.client.schemas.objects import StateType
        from prefect.states import Crashed, Scheduled

        interrupted = FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING, StateType.PENDING])))
        who = "the local stack stopped" if worker_name is None else f"the worker {worker_name} stopped"
        notes = []
        with get_client(sync_client=True) as client:
            for run in client.read_flow_runs(flow_run_filter=interrupted):
                if worker_name is not None and (run.labels or {}).get("prefect.worker.name") != worker_name:
                    continue
                if run.deployment_id and run.work_pool_name == self.work_pool and run.parent_task_run_id is None:
                    state = Scheduled(name="Rescheduled", message=f"interrupted when {who}: it runs again")
                else:
                    state = Crashed(message=f"interrupted when {who}; its parent run does the work again")
                client.set_flow_run_state(run.id, state, force=True)
                notes.append(f"{run.name}: {state.name}")
        return notes

    def _start_worker(self) -> None:
        self.worker = self._popen(
            ["worker", "start", "--pool", self.work_pool, "--type", "process", "--name", self.worker_name, "--install-policy", "never"], self.worker_log
        )

    def _wait_worker_online(self) -> None:
        from prefect.client.orchestration import get_client

        deadline = time.monotonic() + self.startup_timeout
        with self.client_settings(), get_client(sync_client=True) as client:
            while time.monotonic() < deadline:
                if self.worker.poll() is not None:
                    raise StackError(f"the worker exited with status {self.worker.returncode}; {self.worker_log}:\n{log_tail(self.worker_log)}")
                workers = client.read_workers_for_work_pool(self.work_pool)
                if any(w.name == self.worker_name and w.status is not None and w.status.value == "ONLINE" for w in workers):
                    return
                time.sleep(1)
        raise StackError(f"the worker did not come online within {self.startup_timeout:.0f}s; {self.worker_log}:\n{log_tail(self.worker_log)}")

    def _processes(self) -> list[tuple[str, subprocess.Popen | None, Path]]:
        """What this stack runs here: the server, the worker, or both (``start()``)."""
        roles = self._roles or ["server", "worker"]
        known = {"server": (self.server, self.server_log), "worker": (self.worker, self.worker_log), "web": (self.web, self.web_log)}
        return [(role, *known[role]) for role in dict.fromkeys(roles)]

    def alive(self) -> bool:
        return all(p is not None and p.poll() is None for _, p, _ in self._processes())

    def problem(self) -> str | None:
        """Why the stack is not whole any more (a process exited), with its log's tail; None when it is."""
        for what, process, log in self._processes():
            if process is None or process.poll() is not None:
                status = "never started" if process is None else f"exited with status {process.returncode}"
                return f"the {what} {status}; {log}:\n{log_tail(log)}"
        return None

    def stop(self) -> None:
        """Stop the web service and the worker, then the server: SIGTERM, then SIGKILL (to their whole session) after ``stop_timeout``."""
        for process in (self.web, self.worker, self.server):
            if process is not None:
                _terminate(process, self.stop_timeout)
        for log in self._logs:
            log.close()
        self._logs.clear()

    # -- what is deployed ----------------------------------------------------------

    def deployment_statuses(self) -> list[DeploymentStatus]:
        """Each huikuan deployment on the server: paused or not, its active schedules."""
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterTags

        statuses = []
        with self.client_settings(), get_client(sync_client=True) as client:
            flows = {f.id: f.name for f in client.read_flows()}
            for d in client.read_deployments(deployment_filter=DeploymentFilter(tags=DeploymentFilterTags(all_=["huikuan"]))):
                active = tuple(
                    f"{s.schedule.cron} ({s.schedule.timezone})" if hasattr(s.schedule, "cron") else str(s.schedule) for s in d.schedules if s.active
                )
                statuses.append(
                    DeploymentStatus(
                        f"{flows.get(d.flow_id, '?')}/{d.name}", bool(d.paused), active, sum(1 for s in d.schedules if not s.active), tuple(d.tags)
                    )
                )
        return sorted(statuses, key=lambda s: s.full_name)


@contextlib.contextmanager
def _refused_password(stack: LocalStack) -> Iterator[None]:
    """The server's 401 as a plain error: the password is wrong or missing (and is not shown)."""
    import httpx

    try:
        yield
    except httpx.HTTPStatusError as exc:
        if exc.response.status_code != 401:
            raise
        sent = "a wrong password" if stack.auth_string else "no password"
        raise StackError(
            f"the Prefect server at {stack.api_url} refused {sent} (401): set PREFECT_API_AUTH_STRING "
            "to the user:password of PREFECT_SERVER_API_AUTH_STRING on the server machine"
        ) from None


def _terminate(process: subprocess.Popen, timeout: float) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
            return
        except subprocess.TimeoutExpired:
            pass
    # Whatever is left of its session (a stuck process, or children it left behind) is killed.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout)
