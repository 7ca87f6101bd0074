"""Placeholder: the customer listing (filled in)."""


def list_page(args) -> dict:
    return {"items": []}
