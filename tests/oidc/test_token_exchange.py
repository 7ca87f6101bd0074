"""Token exchange (RFC 8693): app/oidc/token_exchange.py."""
import json
from base64 import b64encode, urlsafe_b64decode
from datetime import timedelta

import pytest
import time_machine

from app.extensions import db
from app.models import AuditEvent, Customer, IssuedToken, OAuthClient, utcnow
from app.oidc import tokens
from app.oidc.bearer import InvalidToken, validate_access_token
from app.oidc.clients import GRANT_CLIENT_CREDENTIALS, GRANT_TOKEN_EXCHANGE
from app.oidc.token_exchange import ACCESS_TOKEN_TYPE
from app.oidc.tokens import MAX_EXCHANGE_DEPTH, exchange_depth, is_exchange_chain_live
from tests.factories import make_customer
from tests.oidc.helpers import make_client

ORDERS = "https://orders.example"
BILLING = "https://billing.example"
SUBJECT_SCOPE = "openid profile email"


def basic(client_id: str, secret: str) -> dict:
    """An HTTP Basic Authorization header (our ids and secrets are URL-safe, so the
    form-encoding of RFC 6749 2.3.1 changes nothing)."""
    return {"Authorization": "Basic " + b64encode(f"{client_id}:{secret}".encode()).decode()}


def issue_token(app, client_id: str, scope: str = SUBJECT_SCOPE, customer_pk=None,
                **options) -> str:
    """An access token issued directly to `client_id` (for `customer_pk`, if given)."""
    with app.app_context():
        client = db.session.execute(db.select(OAuthClient).where(
            OAuthClient.client_id == client_id)).scalar_one()
        customer = db.session.get(Customer, customer_pk) if customer_pk else None
        grant_type = "authorization_code" if customer else GRANT_CLIENT_CREDENTIALS
        issued = tokens.issue(client, grant_type, scope, customer=customer,
                              include_refresh_token=False, **options)
        db.session.commit()
        return issued["access_token"]


def unverified(token: str) -> dict:
    """A JWT's header and claims, not verified (tests that care call bearer.py)."""
    header, payload, _ = token.split(".")
    return {"header": json.loads(urlsafe_b64decode(header + "=" * (-len(header) % 4))),
            "claims": json.loads(urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))}


@pytest.fixture
def setup(app):
    """A customer, the app they logged in to (`frontend`), their token for it, and a
    service allowed to exchange it for the orders audience."""
    with app.app_context():
        customer = make_customer()
        customer_pk, customer_id = customer.id, customer.customer_id
    frontend_id, _ = make_client(app, name="Web app", scope=SUBJECT_SCOPE)
    service_id, secret = make_client(app, name="Gateway", grant_types=[GRANT_TOKEN_EXCHANGE],
                                     scope="openid profile email phone",
                                     token_exchange_audiences=[ORDERS, BILLING])
    subject_token = issue_token(app, frontend_id, customer_pk=customer_pk)
    return {"customer_pk": customer_pk, "customer_id": customer_id,
            "frontend_id": frontend_id, "service_id": service_id, "secret": secret,
            "subject_token": subject_token}


def exchange(app, setup, client_id=None, secret=None, **params):
    """POST a token-exchange request; `params` override the defaults (None drops one)."""
    data = {"grant_type": GRANT_TOKEN_EXCHANGE, "subject_token": setup["subject_token"],
            "subject_token_type": ACCESS_TOKEN_TYPE, "audience": ORDERS} | params
    data = {k: v for k, v in data.items() if v is not None}
    return app.test_client().post("/token", data=data, headers=basic(
        client_id or setup["service_id"], secret or setup["secret"]))


def find_grant(token: str) -> IssuedToken:
    """The grant row of a token we issued (inside an app context)."""
    jti = unverified(token)["claims"]["jti"]
    return db.session.execute(db.select(IssuedToken).where(
        IssuedToken.access_token_jti == jti)).scalar_one()


def grant_of(app, token: str) -> IssuedToken:
    """The grant row of a token we issued, detached for reading outside an app context."""
    with app.app_context():
        row = find_grant(token)
        db.session.expunge(row)
        return row


def test_exchange_issues_a_narrower_token_for_the_audience(app, setup):
    response = exchange(app, setup, scope="openid email")
    assert response.status_code == 200, response.json
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json
    assert body["issued_token_type"] == ACCESS_TOKEN_TYPE
    assert body["token_type"] == "Bearer" and body["scope"] == "openid email"
    assert "refresh_token" not in body
    with app.app_context():
        valid = validate_access_token(body["access_token"])
        claims = valid.claims
        assert valid.grant.exchanged_from_jti == unverified(setup["subject_token"])["claims"]["jti"]
        assert valid.grant.grant_type == GRANT_TOKEN_EXCHANGE
        assert is_exchange_chain_live(valid.grant)
        event = db.session.execute(db.select(AuditEvent).where(
            AuditEvent.event == "token.exchanged")).scalar_one()
        assert event.actor == f"client:{setup['service_id']}"
        assert event.customer_id == setup["customer_id"]
        assert event.details["audience"] == ORDERS
    assert unverified(body["access_token"])["header"]["typ"] == "at+jwt"
    assert claims["aud"] == ORDERS
    assert claims["sub"] == setup["customer_id"]
    assert claims["client_id"] == setup["service_id"]
    assert claims["scope"] == "openid email"
    assert claims["act"] == {"sub": setup["service_id"]}
    # The subject token stays valid: the service keeps serving its own caller.
    with app.app_context():
        validate_access_token(setup["subject_token"])


def test_scope_defaults_to_what_the_subject_token_and_the_client_share(app, setup):
    response = exchange(app, setup, audience=None, resource=BILLING)
    assert response.status_code == 200, response.json
    assert response.json["scope"] == SUBJECT_SCOPE
    assert unverified(response.json["access_token"])["claims"]["aud"] == BILLING


@pytest.mark.parametrize("params, error", [
    ({"audience": "https://elsewhere.example"}, "invalid_target"),
    ({"audience": ORDERS, "resource": BILLING}, "invalid_target"),
    ({"audience": None}, "invalid_request"),
    ({"audience": ""}, "invalid_request"),
    ({"scope": "openid phone"}, "invalid_scope"),           # phone: not in the subject token
    ({"scope": "openid admin"}, "invalid_scope"),
    ({"subject_token": None}, "invalid_request"),
    ({"subject_token_type": None}, "invalid_request"),
    ({"subject_token_type": "urn:ietf:params:oauth:token-type:refresh_token"},
     "invalid_request"),
    ({"subject_token_type": "urn:ietf:params:oauth:token-type:id_token"}, "invalid_request"),
    ({"subject_token": "not.a.token"}, "invalid_request"),
    ({"requested_token_type": "urn:ietf:params:oauth:token-type:refresh_token"},
     "invalid_request"),
    ({"actor_token_type": ACCESS_TOKEN_TYPE}, "invalid_request"),
    ({"actor_token": "not.a.token", "actor_token_type": ACCESS_TOKEN_TYPE},
     "invalid_request"),
], ids=["audience-not-allowed", "two-targets", "no-audience", "empty-audience",
        "scope-beyond-subject", "scope-unknown", "no-subject-token", "no-subject-type",
        "refresh-token-type", "id-token-type", "garbage-subject", "requested-refresh",
        "actor-type-without-token", "garbage-actor"])
def test_bad_requests_are_refused_and_issue_nothing(app, setup, params, error):
    response = exchange(app, setup, **params)
    assert response.status_code == 400, response.json
    assert response.json["error"] == error
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(IssuedToken).where(
            IssuedToken.grant_type == GRANT_TOKEN_EXCHANGE)) == 0


def test_scope_the_client_is_not_registered_for_is_refused(app, setup):
    narrow_id, narrow_secret = make_client(app, name="Narrow", scope="openid",
                                           grant_types=[GRANT_TOKEN_EXCHANGE],
                                           token_exchange_audiences=[ORDERS])
    refused = exchange(app, setup, narrow_id, narrow_secret, scope="openid email")
    assert refused.status_code == 400 and refused.json["error"] == "invalid_scope"
    by_default = exchange(app, setup, narrow_id, narrow_secret)
    assert by_default.status_code == 200 and by_default.json["scope"] == "openid"


def test_a_public_client_cannot_exchange(app, setup):
    public_id, _ = make_client(app, name="SPA", public=True,
                               grant_types=["authorization_code", GRANT_TOKEN_EXCHANGE],
                               token_exchange_audiences=[ORDERS])
    data = {"grant_type": GRANT_TOKEN_EXCHANGE, "client_id": public_id,
            "subject_token": setup["subject_token"], "subject_token_type": ACCESS_TOKEN_TYPE,
            "audience": ORDERS}
    response = app.test_client().post("/token", data=data)
    assert response.status_code == 401 and response.json["error"] == "invalid_client"


def test_a_client_without_the_grant_type_is_unauthorized(app, setup):
    other_id, other_secret = make_client(app, name="No exchange",
                                         grant_types=[GRANT_CLIENT_CREDENTIALS],
                                         token_exchange_audiences=[ORDERS])
    response = exchange(app, setup, other_id, other_secret)
    assert response.status_code == 400 and response.json["error"] == "unauthorized_client"


def test_a_wrong_secret_is_invalid_client(app, setup):
    response = exchange(app, setup, secret="wrong")
    assert response.status_code == 401 and response.json["error"] == "invalid_client"


def test_an_expired_subject_token_is_refused(app, setup):
    # RFC 8693 2.2.2: an invalid subject token is invalid_request (not invalid_grant).
    later = utcnow() + timedelta(seconds=int(app.config["ACCESS_TOKEN_SECONDS"]) + 1)
    with time_machine.travel(later, tick=False):
        response = exchange(app, setup)
    assert response.status_code == 400 and response.json["error"] == "invalid_request"


def test_a_revoked_subject_token_is_refused(app, setup):
    with app.app_context():
        tokens.revoke_family(find_grant(setup["subject_token"]).family_id)
        db.session.commit()
    response = exchange(app, setup)
    assert response.status_code == 400 and response.json["error"] == "invalid_request"


def test_an_actor_token_names_the_actor(app, setup):
    # A support agent signed in to the exchanging service acts for the customer.
    with app.app_context():
        agent = make_customer(email="agent@example.com")
        agent_pk, agent_id = agent.id, agent.customer_id
    actor_token = issue_token(app, setup["service_id"], scope="openid", customer_pk=agent_pk)
    response = exchange(app, setup, actor_token=actor_token,
                        actor_token_type=ACCESS_TOKEN_TYPE)
    assert response.status_code == 200, response.json
    claims = unverified(response.json["access_token"])["claims"]
    assert claims["sub"] == setup["customer_id"]
    assert claims["act"] == {"sub": agent_id, "client_id": setup["service_id"]}
    assert grant_of(app, response.json["access_token"]).actor == claims["act"]


@pytest.mark.parametrize("actor_owner", ["other-client", "subject-client"])
def test_an_actor_token_of_another_client_is_refused(app, setup, actor_owner):
    # The caller would otherwise name as actor whoever's token it happens to hold.
    if actor_owner == "other-client":
        agent_id, _ = make_client(app, name="Support console",
                                  grant_types=[GRANT_CLIENT_CREDENTIALS])
        actor_token = issue_token(app, agent_id, scope="openid")
    else:
        agent_id, actor_token = setup["frontend_id"], setup["subject_token"]
    response = exchange(app, setup, actor_token=actor_token,
                        actor_token_type=ACCESS_TOKEN_TYPE)
    assert response.status_code == 400 and response.json["error"] == "invalid_request"
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(IssuedToken).where(
            IssuedToken.grant_type == GRANT_TOKEN_EXCHANGE)) == 0
        event = db.session.execute(db.select(AuditEvent).where(
            AuditEvent.event == "token.exchange_actor_refused")).scalar_one()
        assert event.actor == f"client:{setup['service_id']}"
        assert event.details["actor_client_id"] == agent_id
        assert event.details["actor_jti"] == unverified(actor_token)["claims"]["jti"]


def test_a_second_exchange_nests_the_earlier_actor(app, setup):
    first = exchange(app, setup).json["access_token"]
    orders_id, orders_secret = make_client(app, name="Orders", scope=SUBJECT_SCOPE,
                                           grant_types=[GRANT_TOKEN_EXCHANGE],
                                           token_exchange_audiences=[BILLING])
    second = exchange(app, setup, orders_id, orders_secret, subject_token=first,
                      audience=BILLING, scope="openid")
    assert second.status_code == 200, second.json
    claims = unverified(second.json["access_token"])["claims"]
    assert claims["sub"] == setup["customer_id"] and claims["aud"] == BILLING
    assert claims["act"] == {"sub": orders_id, "act": {"sub": setup["service_id"]}}
    with app.app_context():
        assert exchange_depth(find_grant(second.json["access_token"])) == 2


def test_revoking_the_subject_kills_every_token_exchanged_from_it(app, setup):
    first = exchange(app, setup).json["access_token"]
    second = exchange(app, setup, subject_token=first, audience=BILLING).json["access_token"]
    with app.app_context():
        for token in (first, second):
            assert is_exchange_chain_live(validate_access_token(token).grant)
        tokens.revoke_family(find_grant(setup["subject_token"]).family_id)
        db.session.commit()
        with pytest.raises(InvalidToken):
            validate_access_token(setup["subject_token"])
        # Not revoked themselves, but their chain is dead.
        for token in (first, second):
            assert find_grant(token).revoked_at is None
            assert not is_exchange_chain_live(find_grant(token))
    # ...and a dead chain cannot be exchanged further.
    response = exchange(app, setup, subject_token=first, audience=BILLING)
    assert response.status_code == 400 and response.json["error"] == "invalid_request"


def test_bearer_refuses_a_token_whose_subject_was_revoked(app, setup):
    exchanged = exchange(app, setup).json["access_token"]
    with app.app_context():
        tokens.revoke_family(find_grant(setup["subject_token"]).family_id)
        db.session.commit()
        with pytest.raises(InvalidToken):
            validate_access_token(exchanged)


def test_revoking_a_middle_link_kills_only_what_came_after(app, setup):
    first = exchange(app, setup).json["access_token"]
    second = exchange(app, setup, subject_token=first, audience=BILLING).json["access_token"]
    with app.app_context():
        tokens.revoke_family(find_grant(first).family_id)
        db.session.commit()
        assert is_exchange_chain_live(validate_access_token(setup["subject_token"]).grant)
        assert not is_exchange_chain_live(find_grant(second))


def test_chains_are_bounded(app, setup):
    token = setup["subject_token"]
    for _ in range(MAX_EXCHANGE_DEPTH):
        response = exchange(app, setup, subject_token=token)
        assert response.status_code == 200, response.json
        token = response.json["access_token"]
    refused = exchange(app, setup, subject_token=token)
    assert refused.status_code == 400 and refused.json["error"] == "invalid_request"
    with app.app_context():
        assert exchange_depth(find_grant(token)) == MAX_EXCHANGE_DEPTH


def test_a_client_may_narrow_its_own_client_credentials_token(app, setup):
    own = issue_token(app, setup["service_id"], scope="openid profile")
    response = exchange(app, setup, subject_token=own, scope="openid")
    assert response.status_code == 200, response.json
    claims = unverified(response.json["access_token"])["claims"]
    assert claims["sub"] == setup["service_id"] and claims["aud"] == ORDERS


def test_another_clients_customerless_token_is_refused(app, setup):
    # tokens.issue would name the exchanging client as `sub`, misattributing the subject.
    other_id, _ = make_client(app, name="Batch job", grant_types=[GRANT_CLIENT_CREDENTIALS])
    response = exchange(app, setup, subject_token=issue_token(app, other_id, scope="openid"))
    assert response.status_code == 400 and response.json["error"] == "invalid_request"


def test_client_secret_post_works_too(app, setup):
    data = {"grant_type": GRANT_TOKEN_EXCHANGE, "client_id": setup["service_id"],
            "client_secret": setup["secret"], "subject_token": setup["subject_token"],
            "subject_token_type": ACCESS_TOKEN_TYPE, "audience": ORDERS}
    response = app.test_client().post("/token", data=data)
    assert response.status_code == 200, response.json
