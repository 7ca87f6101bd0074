"""flask commands (placeholder)."""


def register_cli(app) -> None:
    """Register the command groups."""
