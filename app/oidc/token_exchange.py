"""Token exchange (RFC 8693). Being built."""


def register(server) -> None:
    """Register the token-exchange grant with the authorization server."""
