"""huikuan (回款): receivables and collections as Prefect 3 process definitions.

This package holds what the CLI, the tasks and the flows share: settings, the
database engine, the importer and the ledger services. The domain itself (ORM,
calendar, policy) lives in `models/`.
"""
