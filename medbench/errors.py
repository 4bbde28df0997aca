"""User-facing errors: one line on stderr, exit code 2, no traceback unless --debug."""

from __future__ import annotations


class UserError(Exception):
    """Bad input or environment the user can fix. The message is shown as one line."""

    exit_code = 2

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


class MissingFeatureData(UserError):
    """A feature needs an optional table that the loaded MIMIC copy does not have."""
