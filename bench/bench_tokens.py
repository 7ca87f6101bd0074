"""Token endpoint and introspection throughput, against signing one access token by hand.

Run: .venv/bin/python bench/bench_tokens.py [--rounds N]
Prints a table: operations per second for a bare ES256 JWT signature of an access token's
claims (the baseline: the one cryptographic step every grant needs), a full
client_credentials grant at POST /token (client authentication by keyed hash, the grant
row, the signature), and POST /introspect of a live access token; each also as a ratio of
the baseline in this same run, so the machine's speed cancels out. Nothing on the token
path runs a slow hash, so the ratios show what the rest of the request costs.
"""
from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from joserfc import jwt  # noqa: E402
from joserfc.jwk import ECKey  # noqa: E402

from benchlib import bench_app, per_second, print_table, token_service  # noqa: E402
from app.extensions import db  # noqa: E402




def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()

    app = bench_app()
    client_id, grant, introspect = token_service(app)

    key = ECKey.generate_key("P-256")

    def bare_sign():
        now = int(time.time())
        jwt.encode({"alg": "ES256", "typ": "at+jwt", "kid": "k"},
                   {"iss": "http://127.0.0.1:5000", "sub": client_id, "aud": client_id,
                    "client_id": client_id, "scope": "openid", "iat": now, "exp": now + 600,
                    "jti": uuid.uuid4().hex}, key)

    baseline = per_second(bare_sign, args.rounds)
    rows = [
        ("ES256 access-token signature (baseline)", baseline),
        ("POST /token client_credentials", per_second(grant, args.rounds)),
        ("POST /introspect (live token)", per_second(introspect, args.rounds)),
    ]
    print_table(f"{args.rounds} rounds, SQLite, one thread, Flask test client (no network)",
                "operation", rows)
    with app.app_context():
        db.engine.dispose()


if __name__ == "__main__":
    main()
