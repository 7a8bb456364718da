"""The command line's consoles, its exit codes, and how a command that finished with warnings ends.

====  ==========================================================================================
0     done (warnings, if any, printed on stderr)
1     an unexpected error (``KAPPA_DEBUG=1`` shows its traceback)
2     refused: bad arguments or input, a load refused, a flow run that failed
3     done, but with warnings, under ``--strict`` (or ``KAPPA_STRICT=1``): for cron and schedulers
130   interrupted
====  ==========================================================================================
"""

from __future__ import annotations

import os
import sys

from rich.console import Console

EXIT_UNEXPECTED = 1
EXIT_REFUSED = 2
EXIT_WARNINGS = 3
EXIT_INTERRUPTED = 130
STRICT_ENV = "KAPPA_STRICT"

# values, file names and errors are printed as they are: no Rich markup, no highlighting; piped output is not
# cut to a terminal's width
out = Console(soft_wrap=True, markup=False, highlight=False, width=None if sys.stdout.isatty() else 100_000)
err = Console(stderr=True, soft_wrap=True, markup=False, highlight=False)


class FinishedWithWarnings(Exception):
    """The command did its work, with warnings, under ``--strict``: exit code 3."""


def finish(warnings: list[str], strict: bool) -> None:
    """Print each warning on stderr; under ``--strict`` end with exit code 3 if there are any."""
    for w in warnings:
        err.print(f"warning: {w}", soft_wrap=True, highlight=False)
    if warnings and (strict or os.environ.get(STRICT_ENV, "") not in ("", "0")):
        raise FinishedWithWarnings(f"finished with {len(warnings)} warning(s) (--strict)")
