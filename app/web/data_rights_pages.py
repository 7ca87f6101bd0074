"""Placeholder: filled in by its area."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("data_rights", __name__)
