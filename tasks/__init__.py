"""Prefect tasks: one side effect each (ledger write, email, letter, lock), idempotent by key."""
