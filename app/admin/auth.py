"""Who may call the admin API: an OAuth client holding a live access token from the
client-credentials grant with the admin scope the endpoint needs (`admin:read`,
`admin:write`, `admin:recovery`, `admin:gdpr`). A customer's token never qualifies, whatever
its scope. The caller may name the human operator (`X-Operator`) and the reason
(`X-Reason`); both go into the audit event every call writes."""
from __future__ import annotations

from dataclasses import dataclass
from functools import wraps

from flask import g, request

from app.admin.problems import problem
from app.oidc import audiences
from app.oidc.bearer import InvalidToken, validate_access_token
from app.oidc.clients import get_client
from app.oidc.scopes import ADMIN_SCOPES
from app.platform.audit import Origin

SCOPES = ADMIN_SCOPES
_HEADER_MAX = 128


@dataclass(frozen=True)
class AdminCaller:
    client_id: str
    operator: str | None
    reason: str | None

    @property
    def origin(self) -> Origin:
        actor = f"admin:{self.client_id}" + (f":{self.operator}" if self.operator else "")
        return Origin(actor=actor, ip=request.remote_addr,
                      user_agent=request.headers.get("User-Agent"))


def _header(name: str) -> str | None:
    value = (request.headers.get(name) or "").strip()
    if not value:
        return None
    # Printable text only, bounded: it ends up in the audit log.
    return "".join(ch for ch in value if ch.isprintable())[:_HEADER_MAX] or None


def _challenge(error: str | None = None, scope: str | None = None) -> dict:
    parts = ['Bearer realm="tessera-admin"']
    if error:
        parts.append(f'error="{error}"')
    if scope:
        parts.append(f'scope="{scope}"')
    return {"WWW-Authenticate": ", ".join(parts)}


def is_admin_grant(grant) -> bool:
    """True if the token is a client-credentials token of a client that is an admin client
    now (a client demoted or deleted since its token was issued no longer qualifies).
    The scope is checked separately: both must hold (issue 12, item 19)."""
    if grant.customer_pk is not None or grant.grant_type != "client_credentials":
        return False
    client = get_client(grant.client_id)
    return client is not None and client.is_admin


def admin_required(scope: str):
    """Run the view only for an admin client whose token carries `scope`."""
    if scope not in SCOPES:
        raise ValueError(f"unknown admin scope {scope!r}")

    def decorate(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            header = request.headers.get("Authorization", "")
            if header[:7].lower() != "bearer " or not header[7:].strip():
                return problem(401, "Unauthorized", "Send an admin access token as a Bearer "
                               "token.", kind="unauthorized", headers=_challenge())
            try:
                valid = validate_access_token(header[7:].strip())
            except InvalidToken:
                return problem(401, "Unauthorized", "The access token is not valid.",
                               kind="invalid-token", headers=_challenge("invalid_token"))
            grant = valid.grant
            if not is_admin_grant(grant):
                return problem(403, "Forbidden", "Only admin clients may call this API.",
                               kind="insufficient-scope",
                               headers=_challenge("insufficient_scope", scope))
            if not audiences.includes(valid.claims, audiences.admin_api_audience()):
                # An admin client's token minted for another audience (by exchange).
                return problem(401, "Unauthorized", "The access token is not for this API.",
                               kind="invalid-token", headers=_challenge("invalid_token"))
            if scope not in grant.scope.split():
                return problem(403, "Forbidden", f"The token lacks the {scope} scope.",
                               kind="insufficient-scope",
                               headers=_challenge("insufficient_scope", scope))
            g.admin = AdminCaller(grant.client_id, _header("X-Operator"), _header("X-Reason"))
            return view(*args, **kwargs)
        return wrapped
    return decorate
