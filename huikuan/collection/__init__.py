"""Collecting: taking the policy's actions on a day, each exactly once.

- ``execution``: one action taken (its document queued, its lock or escalation recorded, its approval requested), keyed so
  a rerun takes nothing twice; the documents' contexts read from the ledger;
- ``batch``: a batch of accounts on a day, each customer in its own transaction (what each ``collect-batch`` task does).

What is due when (e.g. the D+28 escalation) is the policy's (``policies/*.yaml`` read by ``models.policy``), not code here.
"""
