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
    """Weights plus KV cache do not fit a device's memory: PIM capacity, a GPU/CPU's `memory_bytes`, or a
    system device (the message gives required and available bytes)."""


class TraceError(PimsimError):
    """A command trace is malformed or truncated (message names the line)."""
