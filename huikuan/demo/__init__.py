"""The demo: a realistic portfolio written as import files and loaded into a ledger (``huikuan demo``, ``huikuan start``).

Outside the product's hot paths: only the CLI and the benchmarks import it.

- ``data``: the deterministic portfolio generator; ``load``: importing it and replaying its events;
- ``bank_statement``: a bank statement of the demo's payments (GBK CSV) for ``huikuan bank import``.
"""
