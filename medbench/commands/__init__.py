"""CLI commands, grouped by stage. Shared option decorators live in `options.py`."""
