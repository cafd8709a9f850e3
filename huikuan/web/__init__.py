"""The web service for people outside the Prefect UI (DESIGN.md, "People outside the Prefect UI").

- ``api``: the ERP's HTTP API (may goods leave, the account), with API keys;
- ``statement``: the customer's statement page behind a signed link;
- ``tokens``: the signed links, their form tokens and the API keys;
- ``app``: the FastAPI application that holds them, run by ``huikuan web``.

Importing this package imports no web framework; ``huikuan.web.app`` does.
"""
