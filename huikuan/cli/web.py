"""``huikuan web``: run the web service (``huikuan start`` runs it too), and ``huikuan web key NAME``: make an API key for the ERP."""

from __future__ import annotations

from typing import Annotated

import typer

web_app = typer.Typer(
    help="The web service: the customers' statement pages, the approvers' pages and the ERP's API (docs at /api/docs).",
    invoke_without_command=True,
    no_args_is_help=False,
)


@web_app.callback()
def web_command(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option(envvar="HUIKUAN_WEB_HOST", help="the address to listen on (default: this machine only; put a TLS proxy in front for the internet)")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, envvar="HUIKUAN_WEB_PORT", help="the port")] = 4300,
) -> None:
    """Serve the statement pages (/s/...), the approval pages (/a/...) and the API (/api/v1/..., docs at /api/docs) until Ctrl-C.

    The approval pages answer the waiting runs through the Prefect server of `huikuan start`
    (or the one PREFECT_API_URL and PREFECT_API_AUTH_STRING name).
    """
    if ctx.invoked_subcommand is not None:
        return
    import logging

    import uvicorn

    from huikuan.cli.common import ensure_ledger, out
    from huikuan.web.app import create_app

    ensure_ledger()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app()
    out.print(f"huikuan web: http://{host}:{port}/  (API docs http://{host}:{port}/api/docs)", highlight=False)
    # No access log: the pages' paths are their links, which are credentials.
    uvicorn.run(app, host=host, port=port, access_log=False, log_level="info")


@web_app.command("key")
def web_key(name: Annotated[str, typer.Argument(help="who will use it, e.g. erp or warehouse (letters, digits, _ . -)")]) -> None:
    """Make a new API key: give the key to the ERP, paste the line into the company file's web.api_keys."""
    import re

    from huikuan.web.tokens import api_key_hash, new_api_key

    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise typer.BadParameter("letters, digits, _ . - only", param_hint="NAME")
    key = new_api_key()
    typer.echo(f"API key for {name} (shown once; give it to the ERP, it sends it as the X-API-Key header):\n  {key}")
    typer.echo("Add this line under web: api_keys: in the company file:")
    typer.echo(f'  - {{name: {name}, key_hash: "{api_key_hash(key)}"}}')
