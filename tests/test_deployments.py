"""Every deployment definition loads, without a server: a renamed flow, module or entrypoint fails here."""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib
import pkgutil
from collections import defaultdict
from zoneinfo import ZoneInfo

import pytest
from prefect import Flow
from prefect.server.schemas.schedules import CronSchedule as ServerCronSchedule

import flows
from deployments.deploy import DEFINITIONS, WORK_POOL, build_deployments
from tasks.approvals import APPROVAL_DEPLOYMENT


@pytest.fixture(scope="module")
def deployments(tmp_path_factory):
    return {f"{d.flow_name}/{d.name}": d for d in build_deployments(timezone="Asia/Shanghai", working_dir=tmp_path_factory.mktemp("work"))}


def every_flow() -> dict[str, str]:
    """Each flow defined in the ``flows`` package: its name and module path entrypoint."""
    found = {}
    for module_info in pkgutil.iter_modules(flows.__path__):
        module = importlib.import_module(f"flows.{module_info.name}")
        for attribute, value in vars(module).items():
            if isinstance(value, Flow) and value.__module__ == module.__name__:
                found[value.name] = f"{module.__name__}.{attribute}"
    return found


def test_every_flow_has_its_deployment_named_after_it(deployments):
    assert {d.entrypoint: d.flow_name for d in deployments.values()} == {entrypoint: name for name, entrypoint in every_flow().items()}
    assert all(full_name == f"{d.flow_name}/{d.flow_name}" for full_name, d in deployments.items())
    assert APPROVAL_DEPLOYMENT in deployments  # the name tasks/approvals.py starts approval runs by


def test_each_entrypoint_loads_the_flow_it_names():
    for definition in DEFINITIONS:
        module, _, attribute = definition.entrypoint.rpartition(".")
        loaded = getattr(importlib.import_module(module), attribute)
        assert isinstance(loaded, Flow) and loaded.name == definition.flow_name, definition


def test_a_renamed_flow_fails_loudly(monkeypatch):
    import deployments.deploy as deploy

    wrong = deploy.Definition("flows.shipping.shipping_check", "check-shipping", ("shipping",))
    monkeypatch.setattr(deploy, "DEFINITIONS", (wrong,))
    with pytest.raises(ValueError, match="is the flow 'shipping-check', not 'check-shipping'"):
        build_deployments()


def test_all_run_on_the_work_pool_unpaused_in_the_working_directory(deployments, tmp_path):
    for deployment in deployments.values():
        assert deployment.work_pool_name == WORK_POOL and deployment.paused is False
        assert "huikuan" in deployment.tags and deployment.description
    working_dir = build_deployments(working_dir=tmp_path)[0].storage.to_pull_step()
    assert working_dir == {"prefect.deployments.steps.set_working_directory": {"directory": str(tmp_path.resolve())}}


def test_tags_let_a_person_find_things(deployments):
    tagged = defaultdict(set)
    for full_name, deployment in deployments.items():
        for tag in deployment.tags:
            tagged[tag].add(full_name.split("/")[0])
    assert tagged["approval"] == {"request-approval", "request-group-approval"}
    assert {"daily-collection", "collect-account"} <= tagged["collection"]
    assert tagged["scheduled"] == {"daily-collection", "statement-cycle", "management-report"}
    assert {"record-contact", "record-promise", "record-dispute", "confirm-statement", "record-invoice", "record-payment", "shipping-check"} <= tagged["form"]


def test_only_the_daily_collection_the_statement_cycle_and_the_monthly_report_are_scheduled(deployments):
    scheduled = {name for name, d in deployments.items() if d.schedules}
    assert scheduled == {"daily-collection/daily-collection", "statement-cycle/statement-cycle", "management-report/management-report"}
    for deployment in deployments.values():
        assert all(s.active and s.schedule.timezone == "Asia/Shanghai" for s in deployment.schedules)


def test_the_management_report_runs_on_the_first_of_each_month(deployments):
    days = run_days(deployments["management-report/management-report"], dt.date(2027, 1, 1), dt.date(2027, 12, 31))
    assert days == [dt.datetime(2027, m, 1, 7, 0) for m in range(1, 13)]


def run_days(deployment, first: dt.date, last: dt.date) -> list[dt.datetime]:
    """When the deployment's schedules run between two days, in the company's time zone."""
    tz = ZoneInfo("Asia/Shanghai")
    start, end = dt.datetime.combine(first, dt.time(), tz), dt.datetime.combine(last, dt.time(23, 59), tz)
    dates = []
    for s in deployment.schedules:
        server_side = ServerCronSchedule(cron=s.schedule.cron, timezone=s.schedule.timezone)
        dates += asyncio.run(server_side.get_dates(start=start, end=end))
    local = (d.astimezone(tz) for d in dates)
    return sorted(dt.datetime(d.year, d.month, d.day, d.hour, d.minute) for d in local)  # plain datetimes, not Pendulum's


def test_the_daily_collection_runs_every_morning_in_the_company_time_zone(deployments):
    days = run_days(deployments["daily-collection/daily-collection"], dt.date(2027, 1, 1), dt.date(2027, 1, 10))
    assert days == [dt.datetime(2027, 1, d, 8, 30) for d in range(1, 11)]


@pytest.mark.parametrize(("year", "february_last"), [(2027, 28), (2028, 29)])
def test_the_statement_cycle_runs_on_its_deadlines_and_february_s_last_day(deployments, year, february_last):
    days = run_days(deployments["statement-cycle/statement-cycle"], dt.date(year, 1, 1), dt.date(year, 12, 31))
    assert all(d.time() == dt.time(8, 0) for d in days)
    by_month = defaultdict(list)
    for d in days:
        by_month[d.month].append(d.day)
    assert by_month == {m: [5, 8, 20, february_last] if m == 2 else [5, 8, 20, 30] for m in range(1, 13)}


def test_the_schedules_follow_the_configured_time_zone(tmp_path):
    daily = next(d for d in build_deployments(timezone="Europe/Berlin", working_dir=tmp_path) if d.flow_name == "daily-collection")
    assert [s.schedule.timezone for s in daily.schedules] == ["Europe/Berlin"]


def test_the_forms_ask_for_what_the_flows_need(deployments):
    def required(name: str) -> list[str]:
        return deployments[f"{name}/{name}"]._parameter_openapi_schema.required

    assert required("request-approval") == ["approval_key"]
    assert required("request-group-approval") == ["group_key"]
    assert required("collect-account") == ["customer_id"]
    assert required("shipping-check") == ["customer_id"]
    assert required("record-payment") == ["payment_id", "customer_id", "amount"]
    assert required("record-invoice") == ["customer_id", "month"]
    assert required("daily-collection") == []


def test_each_deployment_page_shows_its_flow_functions_docstring_with_its_arguments(deployments):
    """Prefect shows the flow function's docstring on the deployment's page: what it does and what each input means."""
    import inspect

    for definition in DEFINITIONS:
        module, _, attribute = definition.entrypoint.rpartition(".")
        function = getattr(importlib.import_module(module), attribute).fn
        doc = inspect.getdoc(function)
        assert doc, f"{definition.entrypoint} has no docstring"
        for parameter in inspect.signature(function).parameters:
            assert f"{parameter}:" in doc.split("Args:", 1)[-1], f"{definition.entrypoint}: Args does not explain {parameter}"
        deployment = next(d for d in deployments.values() if d.name == definition.name)
        assert deployment.description == doc


def test_the_tasks_that_start_runs_on_the_server_give_up_in_time():
    from tasks import SERVER_TIMEOUT
    from tasks.approvals import start_approval_runs, start_waiting_approval_runs
    from tasks.legal import start_case_run

    for started in (start_approval_runs, start_waiting_approval_runs, start_case_run):
        assert started.timeout_seconds == SERVER_TIMEOUT, started.name


def test_the_worker_asks_for_runs_every_two_seconds_unless_the_environment_says_otherwise(monkeypatch, tmp_path):
    """A spread day's collect-batch runs and an approval's waiting run start within seconds, not Prefect's 10 (issue #18)."""
    from huikuan.stack import WORKER_QUERY_SECONDS, LocalStack

    monkeypatch.delenv("PREFECT_WORKER_QUERY_SECONDS", raising=False)
    assert LocalStack(home=tmp_path, cwd=tmp_path).environment()["PREFECT_WORKER_QUERY_SECONDS"] == str(WORKER_QUERY_SECONDS) == "2"
    monkeypatch.setenv("PREFECT_WORKER_QUERY_SECONDS", "15")
    assert LocalStack(home=tmp_path, cwd=tmp_path).environment()["PREFECT_WORKER_QUERY_SECONDS"] == "15"
    assert LocalStack(home=tmp_path, cwd=tmp_path, extra_env={"PREFECT_WORKER_QUERY_SECONDS": "5"}).environment()["PREFECT_WORKER_QUERY_SECONDS"] == "5"
