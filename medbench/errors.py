"""User-facing errors: one line on stderr, exit code 2, no traceback unless --debug."""

from __future__ import annotations


def terminal_safe(text: object) -> str:
    """`text` with every control character (C0 incl. ESC, DEL, C1) shown as a visible escape
    (`\\x1b`), so an untrusted string can never drive the terminal (titles, clipboard, clearing).
    Newlines and tabs are escaped too: a shown value stays on its line."""
    s = str(text)
    if s.isprintable():
        return s
    return "".join(ch if ch.isprintable() or ch == " " else
                   (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}") for ch in s)


class UserError(Exception):
    """Bad input or environment the user can fix. The message is shown as one line."""

    exit_code = 2

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


class MissingFeatureData(UserError):
    """A feature needs an optional table that the loaded MIMIC copy does not have."""
