"""Placeholder: filled in by its area."""
from app.admin.views import bp  # noqa: F401
