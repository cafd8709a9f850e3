"""The legal side of 催款: what the ledger proves, read for a day (issue #17, DESIGN.md "Money in, legal facts out").

- ``standing``: each open invoice's late-payment charge and limitation date, from
  the ledger's facts (payments, promises, plans, confirmed statements, demands
  delivered) and the pure rules of ``models.charges`` and ``models.limitation``;
- ``evidence``: the documents sent to a customer, each with its SHA-256 and delivery record;
- ``case_file``: the folder and ZIP a lawyer asks for (``huikuan case``);
- ``command``: the CLI (``huikuan case``, ``huikuan legal``).

Nothing here changes the ledger; charges are claims, never part of the balance.
"""
