"""``python -m huikuan.cli``: the ``huikuan`` command."""

from huikuan.cli import main

main()
