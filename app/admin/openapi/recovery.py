"""OpenAPI: placeholder, filled in by its area."""
PATHS: dict = {}
