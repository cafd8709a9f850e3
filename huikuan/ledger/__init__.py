"""The ledger: what is stored, how it comes in and how it changes.

- ``db``, ``migrate``, ``settings``: the engine and its sessions, the schema's migrations, the environment's settings;
- ``heap``: the process's older objects kept out of the garbage collector's passes while a batch reads or writes the ledger;
- ``company``: the company file (people, approvers, collectors, calendar, bank words) read and checked;
- ``context``: the run context, one policy, calendar and company per run (the only place a calendar is built);
- ``tables``, ``importer``: the import files (CSV/XLSX) read and written in one transaction;
- ``records``: what people record (payments, promises, disputes, contacts, statements);
- ``facts``: the ledger read into the policy engine's facts, a batch of customers at a time;
- ``account_state``: the shipping lock, the credit standing and the credit limit, each change with its cause;
- ``adoption``: the one-time catch-up when huikuan takes over an existing ledger.

Imports ``models`` only; nothing here renders a document or talks to Prefect.
"""
