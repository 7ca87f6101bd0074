"""Placeholder: filled in by its area."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("recovery_link", __name__)
