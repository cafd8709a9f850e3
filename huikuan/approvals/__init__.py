"""Human approvals: how an answer to a request (stop-shipment, lawyer's letter, a statement) is checked and kept.

- ``check``: the one approval check for single requests and lists: one-time codes and their hashes, who may answer,
  the refusal brake, the refusal record, and the run's verdict as people read it;
- ``groups``: several requests of one approver asked and answered as one list;
- ``runs``: the waiting approval run on the Prefect server given its answer (the UI's Resume form, the CLI and the web page alike).
"""
