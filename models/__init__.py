"""The domain: the ledger ORM, the business calendar, import row rules, the policy.

Pure modules (`calendar`, `money`, `import_rows`) import neither prefect nor a
database session and take the date as an argument.
"""
