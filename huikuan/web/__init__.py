"""The web service for people outside the Prefect UI (DESIGN.md, "People outside the Prefect UI").

- ``api``: the ERP's HTTP API (may goods leave, the account), with API keys;
- ``statement``: the customer's statement page behind a signed link;
- ``approval``: the approver's page of a request or a list, from the approval email's link;
- ``pages``: what the pages share (HTML answers, the plain error page, forms, rate limits);
- ``tokens``: the signed links, their form tokens and the API keys;
- ``app``: the FastAPI application that holds them, run by ``huikuan web``.

Importing this package imports no web framework; ``huikuan.web.app`` does.
"""
