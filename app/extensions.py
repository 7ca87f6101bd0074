"""Extensions, created unbound here and bound to the app in create_app()."""
import logging

from flask_babel import Babel
from flask_limiter import Limiter
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.exc import SQLAlchemyError

from app.models.base import Base
from app.oidc.authorization_server import TesseraAuthorizationServer
from app.platform.client_network import request_network

logger = logging.getLogger(__name__)


class TesseraSQLAlchemy(SQLAlchemy):
    """Flask-SQLAlchemy whose end-of-request cleanup cannot fail a finished response."""

    def _teardown_session(self, exc: BaseException | None) -> None:
        """Remove the request's session. The response is already built (and whatever it
        reports was committed): if the database restarted under a connection the session
        still holds, the rollback inside close() fails, and that must not replace the
        answer with a 500 (a client told "error" after its code was spent could never get
        its tokens). So the failure is logged, the dead connection invalidated (never
        returned to the pool) and the session dropped."""
        try:
            self.session.remove()
        except SQLAlchemyError as error:
            logger.warning("closing the request's session failed (%s); discarding its "
                           "connection", type(error).__name__)
            self.session.registry().invalidate()
            self.session.registry.clear()


db = TesseraSQLAlchemy(model_class=Base)
csrf = CSRFProtect()
# Per-IP limits, keyed on the client's network (an IPv6 address counts as its /64);
# storage comes from RATELIMIT_STORAGE_URI (memory:// or redis://).
limiter = Limiter(key_func=request_network)
# The OAuth 2.0 / OpenID Connect server; grants are registered in app/oidc/server.py.
authorization = TesseraAuthorizationServer()
# Translations and locale formatting; the selectors are bound in app/web/language.py.
babel = Babel()
