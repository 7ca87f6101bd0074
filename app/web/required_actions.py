"""Placeholder: filled in by its area."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("required_actions", __name__)
