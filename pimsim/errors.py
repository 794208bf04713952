"""Errors a user can act on.

Every problem with user input (a config file, a model name, a workload flag, a trace) is raised as a
`PimsimError` subclass whose message names what is wrong and where. The CLI prints the message alone
and exits with code 2; anything else escaping is a bug in pimsim.
"""


class PimsimError(Exception):
    """Base class: bad user input, reported as one clear message (CLI exit code 2)."""

    exit_code = 2


class ConfigError(PimsimError):
    """A hardware, mapping, model, workload or experiment configuration is invalid."""


class UnknownNameError(PimsimError):
    """A preset, model, device or mapping name that pimsim does not know."""


class CapacityError(PimsimError):
    """A model plus its KV cache does not fit the PIM capacity (required vs available bytes)."""


class TraceError(PimsimError):
    """A command trace is malformed or truncated (message names the line)."""
