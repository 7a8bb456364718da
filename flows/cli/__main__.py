"""``python -m flows.cli``: the ``kappa`` command."""

from flows.cli import main

main()
