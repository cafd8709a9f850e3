"""huikuan (回款): receivables and collections as Prefect 3 process definitions.

The application layer, in rooms (README, "How the code is laid out"): ``ledger``, ``collection``, ``approvals``,
``outbox``, ``reports``, ``documents``, ``bank``, ``legal``, ``web``, ``demo``; the entry points ``cli`` and ``stack``
(the local Prefect server, worker and web service) are the only importers of ``deployments/``. The domain itself
(ORM, calendar, policy, allocation, money) lives in ``models/``.
"""
