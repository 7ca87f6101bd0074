"""OpenID Connect and OAuth 2: the client registry now; the Authlib authorization server,
its grants, endpoints, keys, claims and discovery document later."""
