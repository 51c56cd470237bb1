"""The CLI's errors and exit codes: expected failures end with a one-line message, never a traceback.

``main`` prints a :class:`CliError` as ``<prog>: error: <message>`` on stderr and exits with its
``exit_code``: 1 for a failure, 2 for bad usage (argparse's own code), 3 when ``unjoin`` cleaned the host
cluster but had to leave objects in an unreachable member. The errors of Kubernetes calls (``kube``'s, an
unreachable cluster or a refused request) are printed the same way, with exit code 1.
"""

from __future__ import annotations

__all__ = [
    "EXIT_ERROR",
    "EXIT_OK",
    "EXIT_PARTIAL",
    "EXIT_USAGE",
    "CliError",
    "UsageError",
]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_PARTIAL = 3


class CliError(Exception):
    """A failure the user can act on; the message names the flag, context or object at fault."""

    exit_code = EXIT_ERROR


class UsageError(CliError):
    """The command line itself is wrong (a flag's value, a missing argument)."""

    exit_code = EXIT_USAGE
