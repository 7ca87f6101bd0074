"""Extensions, created unbound here and bound to the app in create_app()."""
from authlib.integrations.flask_oauth2 import AuthorizationServer
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

from app.models.base import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
csrf = CSRFProtect()
# Per-IP limits; storage comes from RATELIMIT_STORAGE_URI (memory:// or redis://).
limiter = Limiter(key_func=get_remote_address)
# The OAuth 2.0 / OpenID Connect server; grants are registered in app/oidc/server.py.
authorization = AuthorizationServer()
