"""Exceptions that carry a message a user can act on."""


class IchigoError(Exception):
    """Base class: every error the platform raises on purpose."""


class ConfigError(IchigoError, ValueError):
    """A profile, stage config or manifest is invalid; the message names the field to fix."""


class InputError(IchigoError, ValueError):
    """User-supplied data (audio, text, request) is unusable; the message says why."""
