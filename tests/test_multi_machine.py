"""Several machines: ``huikuan server`` on PostgreSQL with basic auth, two ``huikuan worker`` started apart.

As a company runs it (``docs/multi-machine.md``), on one machine here: the
PostgreSQL server of the fixtures holds two databases, each with its own user
and password: the Prefect server's and the ledger. ``huikuan server`` runs in
one directory (machine A) with ``PREFECT_SERVER_API_AUTH_STRING``; two
``huikuan worker`` run in two others (machines B and C), sharing nothing with
A but the server's URL and password and the ledger's URL. The server refuses
a request without the password (401) and a worker with a wrong one. Two daily
collections of the same day, started at once through the authenticated client
(a schedule and a person's rerun), complete; the ledger on PostgreSQL holds
each of the day's actions once and sent its reminder once; the runs worked in
their worker's directory, not the server's. A worker that stopped with a run
in progress schedules it again when it starts. No log shows a password, and
every process is gone after SIGTERM.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TypeVar

import httpx
import pytest
from sqlalchemy import URL, select, text
from sqlalchemy.orm import Session

from huikuan.ledger.company import EXAMPLE
from huikuan.ledger.db import make_engine
from huikuan.stack import free_port
from models.ledger import ActionTaken, Customer

pytestmark = pytest.mark.postgres

T = TypeVar("T")
# The ledger of tests/test_server_approval.py: on AS_OF, C1 (due 2026-06-01) is more than 3 months overdue.
AS_OF = "2026-09-02"
CUSTOMERS = "customer_id,name,email,phone,contact_name\nC1,华信贸易有限公司,c1@example.cn,021-1,王伟\nC2,恒达物流有限公司,c2@example.cn,021-2,李娜\n"
INVOICES = "invoice_id,customer_id,issued_on,due_on,amount\nI1,C1,2026-05-01,2026-06-01,12000.00\nI2,C2,2026-08-20,2026-09-20,500.00\n"
WAIT = 300.0  # seconds for each step: a loaded 2-core machine starts three Prefect processes and migrates a database
AUTH = "huikuan-it:Wr0ng-Horse&Battery"  # the server's user:password (with characters a shell or a URL would mangle)
PREFECT_DB_PASSWORD = "prefect-db-pw-5b1e"
LEDGER_DB_PASSWORD = "ledger-db-pw-9c42"
SECRETS = (AUTH.partition(":")[2], PREFECT_DB_PASSWORD, LEDGER_DB_PASSWORD)


def descendants(pid: int) -> list[int]:
    """Every process under ``pid`` now (from /proc), deepest last: the Prefect processes run in sessions of their own."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            ppid = int(stat.read_text().rpartition(")")[2].split()[1])
            children.setdefault(ppid, []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


@dataclass
class Machine:
    """A directory and an environment standing for one machine; ``huikuan`` commands run there."""

    name: str
    cwd: Path
    env: dict[str, str]
    process: subprocess.Popen | None = None
    stopped: bool = False  # on purpose: the test stopped it
    starts: int = 0
    _out: IO | None = field(default=None, repr=False)
    _tree: set[int] = field(default_factory=set, repr=False)

    @property
    def log(self) -> Path:
        return self.cwd / f"huikuan-{self.name}-{self.starts}.out"  # what the long-running command printed

    @property
    def logs(self) -> list[Path]:
        return [self.cwd / f"huikuan-{self.name}-{n}.out" for n in range(1, self.starts + 1)]

    @property
    def prefect_home(self) -> Path:
        return self.cwd / "huikuan-data" / "prefect"

    def start(self, *args: str) -> None:
        self.starts, self.stopped, self._tree = self.starts + 1, False, set()
        self._out = open(self.log, "w", encoding="utf-8")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "huikuan.cli", *args],
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    def wait_for_output(self, text: str, timeout: float = WAIT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output():
                self._tree.update(descendants(self.process.pid))
                return
            if self.process.poll() is not None:
                pytest.fail(f"`huikuan` on {self.name} exited with status {self.process.returncode}:\n{self.output()[-4000:]}")
            time.sleep(0.5)
        pytest.fail(f"waited {timeout:.0f}s for {text!r} from `huikuan` on {self.name}:\n{self.output()[-4000:]}")

    def run(self, *args: str, env: dict[str, str] | None = None, timeout: float = WAIT) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "huikuan.cli", *args],
            cwd=self.cwd,
            env={**self.env, **(env or {})},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def stop(self, timeout: float = 60.0) -> list[int]:
        """SIGTERM to the command (it stops its Prefect processes); whatever is left after ``timeout`` is killed and returned."""
        if self.process is None:
            return []
        self.stopped = True
        if self.process.poll() is None:
            self._tree.update(descendants(self.process.pid))
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout)
        leftovers = [pid for pid in [self.process.pid, *self._tree] if alive(pid)]
        for pid in leftovers:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10)
        if self._out is not None:
            self._out.close()
        return leftovers


@dataclass
class Cluster:
    server: Machine
    workers: list[Machine]
    api_url: str
    ledger_url: str

    @contextlib.contextmanager
    def client(self):
        """Prefect's client in this process, as a person's script on a third machine: the URL and the password."""
        from prefect.client.orchestration import get_client
        from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

        with temporary_settings(updates={PREFECT_API_URL: self.api_url, PREFECT_API_AUTH_STRING: AUTH}), get_client(sync_client=True) as client:
            yield client

    def wait_for(self, what: str, probe: Callable[[], T | None], timeout: float = WAIT) -> T:
        deadline, last = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            for machine in (self.server, *self.workers):
                assert machine.stopped or machine.process.poll() is None, f"{machine.name} stopped:\n{machine.output()[-4000:]}"
            last = probe()
            if last:
                return last
            time.sleep(1)
        logs = "\n".join(f"--- {m.name}:\n{tail(m.prefect_home / 'worker.log')}" for m in self.workers)
        pytest.fail(f"waited {timeout:.0f}s for {what}; last seen: {last!r}\n{logs}")


def tail(path: Path, lines: int = 60) -> str:
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]) if path.exists() else f"(no {path})"


@pytest.fixture(scope="module")
def databases(postgres) -> Iterator[tuple[str, str]]:
    """(the Prefect server's URL, the ledger's URL): two databases, each owned by its own user with a password."""
    suffix = os.getpid()
    made = []
    try:
        with postgres.admin.connect() as conn:
            for role, password in ((f"prefect_{suffix}", PREFECT_DB_PASSWORD), (f"ledger_{suffix}", LEDGER_DB_PASSWORD)):
                conn.execute(text(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'"))
                made.append(role)
                conn.execute(text(f"CREATE DATABASE {role} OWNER {role}"))  # the user owns its database, nothing more
        yield tuple(
            URL.create(driver, username=role, password=password, host="127.0.0.1", port=postgres.port, database=role).render_as_string(hide_password=False)
            for driver, role, password in (("postgresql+asyncpg", made[0], PREFECT_DB_PASSWORD), ("postgresql+psycopg", made[1], LEDGER_DB_PASSWORD))
        )
    finally:
        with postgres.admin.connect() as conn:
            for role in made:
                conn.execute(text(f"DROP DATABASE IF EXISTS {role} WITH (FORCE)"))
                conn.execute(text(f"DROP ROLE IF EXISTS {role}"))


@pytest.fixture(scope="module")
def cluster(databases, tmp_path_factory) -> Iterator[Cluster]:
    prefect_url, ledger_url = databases
    port = free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    common = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "HUIKUAN_"))}
    common.update(
        {
            "HUIKUAN_DATABASE_URL": ledger_url,
            "HUIKUAN_TIMEZONE": "Asia/Shanghai",
            "HUIKUAN_RETRY_DELAY_SECONDS": "1",
            "DO_NOT_TRACK": "1",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }
    )
    server = Machine(
        "server",
        tmp_path_factory.mktemp("machine-a"),
        {
            **common,
            "PREFECT_SERVER_DATABASE_CONNECTION_URL": prefect_url,
            "PREFECT_SERVER_API_AUTH_STRING": AUTH,
            "HUIKUAN_SERVER_HOST": "127.0.0.1",
            "HUIKUAN_SERVER_PORT": str(port),
        },
    )
    workers = []
    for name in ("machine-b", "machine-c"):
        cwd = tmp_path_factory.mktemp(name)
        (cwd / "company.yaml").write_text(EXAMPLE, encoding="utf-8")  # each machine has its copy; outbox: huikuan-data/outbox there
        workers.append(
            Machine(
                name,
                cwd,
                {
                    **common,
                    "PREFECT_API_URL": api_url,
                    "PREFECT_API_AUTH_STRING": AUTH,
                    "HUIKUAN_WORKER_NAME": f"huikuan-{name}",
                    "PREFECT_WORKER_QUERY_SECONDS": "2",
                },
            )
        )
    cluster = Cluster(server, workers, api_url, ledger_url)
    leftovers = []
    try:
        started = time.monotonic()
        server.start("server")
        server.wait_for_output("Press Ctrl-C to stop.")
        server_up = time.monotonic()
        for worker in workers:
            worker.start("worker")
        for worker in workers:
            worker.wait_for_output("Press Ctrl-C to stop.")
        print(f"\nserver ready in {server_up - started:.1f}s, both workers online {time.monotonic() - server_up:.1f}s later")
        yield cluster
    finally:
        for machine in (*workers, server):
            leftovers += [f"{machine.name}: {pid}" for pid in machine.stop()]
    assert not leftovers, f"processes still running after SIGTERM (killed): {leftovers}"
    for machine in (*workers, server):
        assert machine.process.returncode == 0 and "Stopped." in machine.output(), machine.output()[-3000:]
        # No password in anything printed or logged, on any machine.
        for path in [*machine.logs, *machine.prefect_home.glob("*.log")]:
            logged = path.read_text(encoding="utf-8", errors="replace")
            assert not [s for s in SECRETS if s in logged], f"a password in {path}"


def test_the_server_demands_the_password(cluster):
    user = AUTH.partition(":")[0]
    with httpx.Client(timeout=30) as http:
        assert http.get(f"{cluster.api_url}/health").status_code == 200  # load balancers and `huikuan worker` probe it without one
        assert http.get(f"{cluster.api_url}/admin/version").status_code == 401
        assert http.post(f"{cluster.api_url}/deployments/filter", json={}).status_code in (401, 403)  # no password, no CSRF token
        assert http.get(f"{cluster.api_url}/admin/version", auth=(user, "not-the-password")).status_code == 401
        password = (user, AUTH.partition(":")[2])
        assert http.get(f"{cluster.api_url}/admin/version", auth=password).status_code == 200
        # A change (any POST) also needs a CSRF token the server issued to this client (issue #12).
        assert http.post(f"{cluster.api_url}/deployments/filter", json={}, auth=password).status_code == 403
        client = "multi-machine-test"
        token = http.get(f"{cluster.api_url}/csrf-token", params={"client": client}, auth=password).json()["token"]
        found = http.post(f"{cluster.api_url}/deployments/filter", json={}, auth=password, headers={"Prefect-Csrf-Token": token, "Prefect-Csrf-Client": client})
        assert found.status_code == 200 and "daily-collection" in {d["name"] for d in found.json()}

    wrong = cluster.workers[0].run("worker", env={"PREFECT_API_AUTH_STRING": f"{user}:not-the-password", "HUIKUAN_WORKER_NAME": "intruder"})
    assert wrong.returncode == 1, wrong.stdout + wrong.stderr
    assert "refused a wrong password (401)" in wrong.stderr.replace("\n", " "), wrong.stderr
    assert "not-the-password" not in wrong.stdout + wrong.stderr
    with cluster.client() as client:
        assert {w.name for w in client.read_workers_for_work_pool("huikuan")} == {"huikuan-machine-b", "huikuan-machine-c"}


def test_two_workers_take_each_action_of_a_day_once(cluster):
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    b, c = cluster.workers
    (b.cwd / "customers.csv").write_text(CUSTOMERS, encoding="utf-8")
    (b.cwd / "invoices.csv").write_text(INVOICES, encoding="utf-8")
    imported = b.run("import", "--customers", "customers.csv", "--invoices", "invoices.csv")
    assert imported.returncode == 0, imported.stdout + imported.stderr
    plan = c.run("plan", "--as-of", AS_OF)  # machine C sees what B imported: one ledger
    assert plan.returncode == 0, plan.stderr
    due = sorted(tuple(line.split(",")[1:3]) for line in plan.stdout.splitlines()[1:] if line.startswith(AS_OF))
    assert ("C1", "stop_shipment") in due, plan.stdout

    # The day's scheduled run and a person's rerun of it, at once: two workers may take one each.
    with temporary_settings(updates={PREFECT_API_URL: cluster.api_url, PREFECT_API_AUTH_STRING: AUTH}):
        runs = [run_deployment("daily-collection/daily-collection", parameters={"as_of": AS_OF}, timeout=0) for _ in range(2)]

    def final_runs():
        with cluster.client() as client:
            found = [client.read_flow_run(run.id) for run in runs]
        return found if all(r.state.is_final() for r in found) else None

    finished = cluster.wait_for("both daily collections to finish", final_runs)
    assert all(r.state.is_completed() for r in finished), [(r.name, r.state) for r in finished]
    ran_on = {r.labels.get("prefect.worker.name") for r in finished}
    assert ran_on <= {"huikuan-machine-b", "huikuan-machine-c"}, ran_on
    print(f"\nthe two runs ran on {sorted(ran_on)}")

    with Session(make_engine(cluster.ledger_url)) as session:
        taken = session.scalars(select(ActionTaken).where(ActionTaken.due_on == dt.date.fromisoformat(AS_OF))).all()
        keys = [a.key for a in taken]
        assert len(keys) == len(set(keys))
        assert sorted((a.customer_id, a.action) for a in taken if a.action in {action for _, action in due}) == due
        assert session.scalar(select(Customer.status).where(Customer.customer_id == "C1")).value == "active"  # locking waits for the boss

    # The runs worked in their worker's directory (its outbox), never in the server's; the reminder went once.
    outboxes = {m.name: sorted(p.name for p in (m.cwd / "huikuan-data" / "outbox").glob("*.eml")) for m in cluster.workers}
    assert [name for names in outboxes.values() for name in names if name.startswith("C1_follow_up_")] == ["C1_follow_up_2026-09-02_email.eml"], outboxes
    assert not (cluster.server.cwd / "huikuan-data" / "outbox").exists()
    print(f"actions taken: {sorted(keys)}; emails by machine: {outboxes}")


def test_a_worker_that_died_runs_its_interrupted_runs_again_when_it_starts(cluster):
    from prefect.states import Running

    b, c = cluster.workers
    assert not b.stop() and b.process.returncode == 0  # stopped cleanly; C alone works meanwhile
    with cluster.client() as client:
        deployment = client.read_deployment_by_name("daily-collection/daily-collection")
        # What a worker killed mid-run (power cut, kill -9) leaves on the server: its run Running for ever,
        # labelled with the worker's name. Machine C leaves it alone: it is not its run.
        orphan = client.create_flow_run_from_deployment(
            deployment.id, parameters={"as_of": AS_OF}, state=Running(), labels={"prefect.worker.name": "huikuan-machine-b"}
        )
        time.sleep(5)
        assert client.read_flow_run(orphan.id).state.is_running()

    b.start("worker")
    b.wait_for_output("Press Ctrl-C to stop.")
    assert f"scheduled again: {orphan.name}: Rescheduled" in b.output().replace("\n", " "), b.output()

    def final_state():
        with cluster.client() as client:
            state = client.read_flow_run(orphan.id).state
        return state if state.is_final() else None

    assert cluster.wait_for("the rescheduled run to finish", final_state).is_completed()
    with Session(make_engine(cluster.ledger_url)) as session:
        keys = session.scalars(select(ActionTaken.key).where(ActionTaken.due_on == dt.date.fromisoformat(AS_OF))).all()
        assert keys and len(keys) == len(set(keys))
