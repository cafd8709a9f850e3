"""Cash application (核销): the bank's statement in, payments matched to customers and invoices, the rest reviewed by finance.

- ``statement_files``: CSV/XLSX exports of Chinese banks, camt.053 and MT940, read into incoming lines.
- ``matching``: the pure decision, per line, to apply it (customer and invoices certain) or let it wait with suggestions.
- ``cash``: the ledger side: lines keyed and stored once, applied lines recorded as payments, finance's matches.
- ``command``: ``huikuan bank import|review|match``.
"""
