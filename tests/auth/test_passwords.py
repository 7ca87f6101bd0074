"""Password policy and argon2id hashing."""
import pytest
from sqlalchemy import select

from app.auth import passwords
from app.auth.flow import password_login
from app.extensions import db
from app.models import AuditEvent, PasswordCredential
from tests.factories import TEST_ORIGIN, make_customer


@pytest.mark.parametrize("password, message", [
    ("short1!", "at least 8"),
    ("x" * 257, "at most 256"),
    ("password1", "common passwords"),
    ("iloveyou2", "common passwords"),
    ("aaaaaaaaaa", "easy to guess|Repeats"),
    ("abcdefgh", "common|easy|Sequences"),
])
def test_policy_refuses_with_the_reason(app_context, password, message):
    with pytest.raises(passwords.PasswordRejected, match=message):
        passwords.check_policy(password)


@pytest.mark.parametrize("password", [
    "correct horse battery staple",      # no composition rules: lower case and spaces
    "violet-harbour-candle-91",
    "żółta łódź płynie powoli",          # any Unicode
    "日本語のパスワードはとても長い",
    "Zq8#mP2ü",                          # exactly 8 characters
])
def test_policy_accepts_strong_passwords_without_composition_rules(app_context, password):
    assert passwords.check_policy(password) == passwords.normalize(password)


def test_policy_uses_the_customers_own_details(app_context):
    """A password built from the customer's own email is refused."""
    with pytest.raises(passwords.PasswordRejected):
        passwords.check_policy("adalovelace1815", ["adalovelace1815@example.com"])


def test_minimum_length_is_configurable(make_app):
    app = make_app(PASSWORD_MIN_LENGTH=15)
    with app.app_context():
        with pytest.raises(passwords.PasswordRejected, match="at least 15"):
            passwords.check_policy("violet-harbour")
        assert passwords.check_policy("violet-harbour-candle")


def test_hash_is_argon2id_at_the_configured_cost(make_app):
    app = make_app(ARGON2_MEMORY_KIB=512, ARGON2_TIME_COST=2, ARGON2_PARALLELISM=1)
    with app.app_context():
        hashed = passwords.hash_password("violet-harbour-candle-91")
    assert hashed.startswith("$argon2id$v=19$m=512,t=2,p=1$")
    assert "violet" not in hashed


def test_nfkc_equivalent_passwords_match(app_context):
    """The same password typed with full-width letters on another keyboard still works."""
    make_customer(password="ｖｉｏｌｅｔ-harbour-candle-91")
    result = password_login("ada@example.com", "violet-harbour-candle-91", TEST_ORIGIN)
    assert result.customer.customer_id


def test_login_rehashes_when_the_cost_changes(make_app):
    cheap = make_app()
    with cheap.app_context():
        customer = make_customer()
        old_hash = db.session.get(PasswordCredential, customer.id).password_hash
    assert ",t=1," in old_hash
    dearer = make_app(ARGON2_TIME_COST=2)
    with dearer.app_context():
        password_login("ada@example.com", "violet-harbour-candle-91", TEST_ORIGIN)
        new_hash = db.session.get(PasswordCredential, customer.id).password_hash
        rehashed = db.session.scalars(select(AuditEvent.customer_id)
                                      .where(AuditEvent.event == "password.rehashed")).all()
    assert ",t=2," in new_hash and new_hash != old_hash
    assert rehashed == [customer.customer_id]
    with dearer.app_context():
        # and the new hash still verifies the same password
        assert password_login("ada@example.com", "violet-harbour-candle-91", TEST_ORIGIN)


def test_verify_without_a_hash_costs_a_verification_and_fails(app_context):
    assert passwords.verify_password(None, "anything") == (False, False)


@pytest.mark.parametrize(("settings", "password", "word"), [
    ({}, "tessera123-harbour", "tessera"),
    ({}, "Violet-TESSERA-harbour", "tessera"),
    ({"ISSUER": "https://login.acme-bank.example"}, "my-acme-bank-harbour-91", "acme-bank"),
    ({"ISSUER": "https://login.acme-bank.example"}, "AcmeBank!violet-harbour", "acmebank"),
    ({"PASSWORD_CONTEXT_WORDS": "auto,Globex"}, "violet-globex-harbour", "globex"),
])
def test_passwords_with_context_words_are_refused(make_app, settings, password, word):
    """ASVS 6.1.2 / 6.2.11: the product name, the issuer's host and configured brand
    words are refused in any case, with a message that says what to do."""
    with make_app(**settings).app_context():
        with pytest.raises(passwords.PasswordRejected, match=f"cannot contain “{word}”.*leave"):
            passwords.check_policy(password)


@pytest.mark.parametrize(("setting", "issuer", "words"), [
    ("auto", "http://127.0.0.1:5000", ("tessera",)),
    ("auto", "https://[2001:db8::1]", ("tessera",)),
    ("auto", "https://login.acme-bank.co.uk", ("tessera", "acme-bank", "acmebank")),
    ("auto", "https://id.xn--bcher-kva.example", ("tessera", "bücher")),
    (" Globex , auto ", "https://www.globex.com", ("globex", "tessera")),
    ("", "https://www.globex.com", ()),
])
def test_context_words_setting(setting, issuer, words):
    assert passwords.context_words(setting, issuer) == words


@pytest.mark.parametrize("setting", ["auto,ab", "two words", "x" * 65])
def test_a_bad_context_word_stops_start_up_naming_the_setting(make_app, setting):
    from app.config import ConfigError
    with pytest.raises(ConfigError, match="TESSERA_PASSWORD_CONTEXT_WORDS"):
        make_app(PASSWORD_CONTEXT_WORDS=setting)


def test_no_context_words_when_the_setting_is_empty(make_app):
    with make_app(PASSWORD_CONTEXT_WORDS="").app_context():
        assert passwords.check_policy("tessera-violet-harbour-91")
