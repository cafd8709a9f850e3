"""Flow-run names that tell a person what happened, with the day the run works on.

A scheduled run has no ``as_of``: it works on today in the company's time zone,
and its name says which day that was.
"""

from __future__ import annotations

from collections.abc import Callable

from huikuan.ledger.settings import get_settings


def dated(template: str) -> Callable[[], str]:
    """A ``flow_run_name`` filling ``template`` from the run's parameters, ``as_of`` resolved."""

    def name() -> str:
        from prefect.runtime import flow_run

        parameters = dict(flow_run.parameters)
        parameters["as_of"] = parameters.get("as_of") or get_settings().today()
        return template.format(**parameters)

    return name
