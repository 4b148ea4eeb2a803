"""The one exception root of the tool; the CLI turns each into one line and an exit code."""

from __future__ import annotations


class GenError(Exception):
    """Something the user can fix: the message names what is wrong and how to fix it."""

    exit_code = 1


class UsageError(GenError):
    """Bad options or arguments (exit 2, like click's own usage errors)."""

    exit_code = 2


class InputError(GenError):
    """A dump or file that cannot be read or is not what we expect."""


class InstallError(GenError):
    """The ClearML install lacks an object or holds one we cannot use."""


class ClusterError(GenError):
    """The cluster could not be reached, or refused a request."""


class WriteError(GenError):
    """An output that cannot be written (a directory, a socket, an unwritable place): nothing was written."""

    exit_code = 2


class LimitError(InputError):
    """Input past a limit of the tool (size, nesting, values, alias expansion): refused whole, never in part."""


class ValuesError(GenError):
    """Values that helm, the chart's schema or the API server would refuse: refused before anything is written."""
