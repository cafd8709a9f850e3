"""What the ledger shows without changing it: plans, portfolios, reports, worklists.

- ``planning``: ``plan``, ``simulate`` and ``explain`` (streamed, the same engine as the daily run);
- ``portfolio``: the portfolio's aging and one customer's file;
- ``builders``: the management reports (aging, KPIs, statements, approvals) and their CSV, Markdown and XLSX;
- ``worklist``: the collector's day: whom to call and what to say;
- ``charts``, ``management``: the monthly management report's charts and folder.
"""
