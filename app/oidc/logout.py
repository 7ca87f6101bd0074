"""RP-initiated and back-channel logout. Being built."""
from flask import Blueprint

bp = Blueprint("oidc_logout", __name__)
