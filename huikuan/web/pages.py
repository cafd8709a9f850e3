"""What the customer's and the approver's pages share: the HTML answer, the plain error page, forms, the rate limits.

Every page is a template of ``templates/web/<locale>/`` rendered by the one Jinja
environment (``huikuan.documents.render.environment``: HTML autoescaped, a missing
variable an error), sent with headers that keep its address (a credential) out
of caches, referrers and frames.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qs

from fastapi import Request
from fastapi.responses import HTMLResponse

from huikuan.documents.render import environment
from huikuan.web.app import context_of
from huikuan.web.tokens import token_tag

log = logging.getLogger("huikuan.web")
MAX_FORM_BYTES = 16_384


def html(name: str, locale: str, status: int = 200, **variables) -> HTMLResponse:
    """The page ``templates/web/<locale>/<name>.html.j2``."""
    template = environment().get_template(f"web/{locale}/{name}.html.j2")
    response = HTMLResponse(template.render(locale=locale, **variables), status_code=status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"  # the link is the credential: never send it to another site
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
    return response


def request_locale(request: Request) -> str:
    """The browser's language when nothing else says whose page it is: Chinese first."""
    return "en" if request.headers.get("accept-language", "").lower().startswith("en") else "zh_CN"


def error(request: Request, kind: str, status: int, locale: str | None = None, *, about: str = "statement", **details) -> HTMLResponse:
    """The plain error page: nothing of any customer or request beyond ``details``."""
    return html("error", locale or request_locale(request), status, kind=kind, about=about, details=details)


def address(request: Request) -> str:
    return request.client.host if request.client else "?"


def held_back(request: Request, token: str, *, posting: bool) -> HTMLResponse | None:
    """The "too many" page when this address (or, for a post, this link) has used up its attempts; None to go on."""
    web = context_of(request)
    where = address(request)
    if web.refused.over(where) or not web.per_address.allow(where) or (posting and not web.per_link.allow(token_tag(token))):
        log.warning("too many attempts from %s (link %s)", where, token_tag(token))
        return error(request, "too_many", 429)
    return None


def refused(request: Request, token: str, kind: str, status: int, why: str, *, about: str, locale: str | None = None, **details) -> HTMLResponse:
    """A link refused (altered, expired, used, replaced): logged, counted against the address, the plain error page."""
    context_of(request).refused.allow(address(request))
    log.warning("%s link refused from %s: %s (link %s)", about, address(request), why, token_tag(token))
    return error(request, kind, status, locale, about=about, **details)


async def read_form(request: Request) -> dict[str, list[str]] | None:
    """The posted form's fields (each a list of values), or None when it is too long or not UTF-8."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return None
    try:
        return parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=200)
    except (UnicodeDecodeError, ValueError):
        return None


def one(form: dict[str, list[str]], name: str) -> str:
    """A field's first value, stripped ("" when absent)."""
    return (form.get(name) or [""])[0].strip()
