"""The local stack of the embedded default: a Prefect server with its UI, the deployments, a worker.

``LocalStack`` starts ``prefect server start`` (SQLite, ``PREFECT_HOME`` under
the data directory) on a fixed host and port, waits until it answers, creates
the process work pool, applies every deployment (none paused) and starts
``prefect worker start`` on the pool, in the current directory and with the
``HUIKUAN_*`` settings, so that flow runs use the same ledger and company file
as the ``huikuan`` command. Used as a context manager it stops the worker,
then the server, whatever happens::

    with LocalStack(port=4200) as stack:
        print(stack.ui_url)

Both processes run in their own session: a Ctrl-C at the terminal reaches
``huikuan start`` alone, which then stops them in order.
"""

from __future__ import annotations

import contextlib
import json
import os
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

from huikuan.settings import Settings, get_settings

WORK_POOL = "huikuan"
WORKER_NAME = "huikuan-worker"


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


@dataclass
class LocalStack:
    """A Prefect server, the huikuan deployments and one process worker, started and stopped together.

    Args:
        port: the server's port on ``host`` (API under ``/api``, UI at ``/``); loopback only by default.
        home: ``PREFECT_HOME`` (the server's SQLite database, logs); default ``<data dir>/prefect``.
        cwd: where the worker and the flow runs work (default: the current directory).
        settings: the huikuan settings handed to the worker (default: from the environment).
        work_pool: the process work pool, created when missing and resumed when paused.
        startup_timeout: seconds to wait for the server, then for the worker.
        stop_timeout: seconds each process has to stop before it is killed.
        extra_env: more environment for both processes (e.g. ``PREFECT_WORKER_QUERY_SECONDS``).
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
    server: subprocess.Popen | None = field(default=None, init=False)
    worker: subprocess.Popen | None = field(default=None, init=False)
    deployments: dict[str, UUID] = field(default_factory=dict, init=False)  # ids by full name
    recovered: list[str] = field(default_factory=list, init=False)  # interrupted runs found at start
    _logs: list[IO] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.settings = self.settings or get_settings()
        self.cwd = (self.cwd or Path.cwd()).resolve()
        self.home = (self.home or self.cwd / self.settings.data_dir / "prefect").resolve()

    # -- where things are --------------------------------------------------------

    @property
    def ui_url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.port}/api"

    @property
    def server_log(self) -> Path:
        return self.home / "server.log"

    @property
    def worker_log(self) -> Path:
        return self.home / "worker.log"

    def prefect_environment(self) -> dict[str, str]:
        """What points a Prefect process at this server (and keeps it from installing anything)."""
        return {
            "PREFECT_HOME": str(self.home),
            "PREFECT_API_URL": self.api_url,
            "PREFECT_SERVER_API_HOST": self.host,
            "PREFECT_SERVER_API_PORT": str(self.port),  # the UI finds the API by it
            "PREFECT_RUNNER_AUTO_INSTALL_DEPENDENCIES": "false",
        }

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "HUIKUAN_"))}
        env.update({k: v for k, v in os.environ.items() if k.startswith("PREFECT_") and k not in ("PREFECT_API_KEY", "PREFECT_PROFILE")})
        env.update(self.prefect_environment())
        # An offline machine would log a failed telemetry call at every start; a company may opt in.
        env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        env.update(huikuan_environment(self.settings, self.cwd))
        env.update(self.extra_env)
        return env

    @contextlib.contextmanager
    def client_settings(self) -> Iterator[None]:
        """Prefect's client in this process talks to this server inside the block."""
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings(updates={PREFECT_API_URL: self.api_url}):
            yield

    # -- start and stop ------------------------------------------------------------

    def start(self) -> LocalStack:
        """Server, work pool, deployments, worker; on any failure what was started is stopped again."""
        try:
            self._start_server()
            self._wait_healthy()
            with self.client_settings():
                self._ensure_work_pool()
                self.recovered = self._recover_interrupted_runs()
                from deployments.deploy import deploy_all

                self.deployments = deploy_all(self.work_pool, self.settings.timezone, self.cwd)
                self._start_worker()
                self._wait_worker_online()
        except BaseException:
            self.stop()
            raise
        return self

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _popen(self, args: list[str], log: Path) -> subprocess.Popen:
        log.parent.mkdir(parents=True, exist_ok=True)
        out = open(log, "a", encoding="utf-8")  # noqa: SIM115 - closed in stop()
        self._logs.append(out)
        out.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(args)}\n")
        out.flush()
        return subprocess.Popen(
            [sys.executable, "-m", "prefect", *args], env=self.environment(), cwd=self.cwd,
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
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
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                raise StackError(f"the Prefect server exited with status {self.server.returncode}; {self.server_log}:\n{log_tail(self.server_log)}")
            try:
                with urllib.request.urlopen(f"{self.api_url}/health", timeout=5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        raise StackError(f"the Prefect server did not answer {self.api_url}/health within {self.startup_timeout:.0f}s; {self.server_log}:\n{log_tail(self.server_log)}")

    def _ensure_work_pool(self) -> None:
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.actions import WorkPoolCreate, WorkPoolUpdate
        from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
        from prefect.workers.process import ProcessWorker

        with get_client(sync_client=True) as client:
            try:
                pool = client.read_work_pool(self.work_pool)
            except ObjectNotFound:
                with contextlib.suppress(ObjectAlreadyExists):
                    client.create_work_pool(WorkPoolCreate(
                        name=self.work_pool, type="process", base_job_template=ProcessWorker.get_default_base_job_template(),
                        description="huikuan's flow runs, as processes on the machine that runs `huikuan start`",
                    ))
                pool = client.read_work_pool(self.work_pool)
            if pool.type != "process":
                raise StackError(f"the work pool {self.work_pool!r} is of type {pool.type!r}, not process")
            if pool.is_paused:
                client.update_work_pool(self.work_pool, WorkPoolUpdate(is_paused=False))

    def _recover_interrupted_runs(self) -> list[str]:
        """Runs the last stop (or a crash) cut short: the server was down, so no process runs them any more.

        Without this they would show as Running (or Pending) for ever. A deployment's
        run on this pool is scheduled again (rerunning is safe: each action is taken
        once, an approval's answers are kept); a subflow inside one is marked Crashed,
        as its parent run does the work again.
        """
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
        from prefect.client.schemas.objects import StateType
        from prefect.states import Crashed, Scheduled

        interrupted = FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING, StateType.PENDING])))
        notes = []
        with get_client(sync_client=True) as client:
            for run in client.read_flow_runs(flow_run_filter=interrupted):
                if run.deployment_id and run.work_pool_name == self.work_pool and run.parent_task_run_id is None:
                    state = Scheduled(name="Rescheduled", message="interrupted when the local stack stopped: it runs again")
                else:
                    state = Crashed(message="interrupted when the local stack stopped; its parent run does the work again")
                client.set_flow_run_state(run.id, state, force=True)
                notes.append(f"{run.name}: {state.name}")
        return notes

    def _start_worker(self) -> None:
        self.worker = self._popen(
            ["worker", "start", "--pool", self.work_pool, "--type", "process", "--name", WORKER_NAME, "--install-policy", "never"], self.worker_log,
        )

    def _wait_worker_online(self) -> None:
        from prefect.client.orchestration import get_client

        deadline = time.monotonic() + self.startup_timeout
        with get_client(sync_client=True) as client:
            while time.monotonic() < deadline:
                if self.worker.poll() is not None:
                    raise StackError(f"the worker exited with status {self.worker.returncode}; {self.worker_log}:\n{log_tail(self.worker_log)}")
                workers = client.read_workers_for_work_pool(self.work_pool)
                if any(w.name == WORKER_NAME and w.status is not None and w.status.value == "ONLINE" for w in workers):
                    return
                time.sleep(1)
        raise StackError(f"the worker did not come online within {self.startup_timeout:.0f}s; {self.worker_log}:\n{log_tail(self.worker_log)}")

    def alive(self) -> bool:
        return all(p is not None and p.poll() is None for p in (self.server, self.worker))

    def problem(self) -> str | None:
        """Why the stack is not whole any more (a process exited), with its log's tail; None when it is."""
        for what, process, log in (("server", self.server, self.server_log), ("worker", self.worker, self.worker_log)):
            if process is None or process.poll() is not None:
                status = "never started" if process is None else f"exited with status {process.returncode}"
                return f"the {what} {status}; {log}:\n{log_tail(log)}"
        return None

    def stop(self) -> None:
        """Stop the worker, then the server: SIGTERM, then SIGKILL (to their whole session) after ``stop_timeout``."""
        for process in (self.worker, self.server):
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
                active = tuple(f"{s.schedule.cron} ({s.schedule.timezone})" if hasattr(s.schedule, "cron") else str(s.schedule) for s in d.schedules if s.active)
                statuses.append(DeploymentStatus(
                    f"{flows.get(d.flow_id, '?')}/{d.name}", bool(d.paused), active, sum(1 for s in d.schedules if not s.active), tuple(d.tags),
                ))
        return sorted(statuses, key=lambda s: s.full_name)


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
