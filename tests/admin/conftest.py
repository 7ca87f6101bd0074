"""Fixtures shared by the admin API tests: the usual admin tokens. A module that needs a
token with other scopes defines its own fixture of the same name."""
from __future__ import annotations

import pytest

from tests.admin.helpers import admin_token


@pytest.fixture
def writer(app) -> str:
    """A token of an admin client with admin:write."""
    return admin_token(app, "admin:write")


@pytest.fixture
def reader(app) -> str:
    """A token of an admin client with admin:read."""
    return admin_token(app, "admin:read")
