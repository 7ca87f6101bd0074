"""The token path's caches under gunicorn with two workers, as deployed (docker/entrypoint.sh):
a change made elsewhere is seen by both workers on their next request.

Each worker caches clients and signing keys (app/oidc/clients.py, app/oidc/keys.py) under
the registry version (app/oidc/registry_version.py). The access log names the worker (its
pid) that served each request, so the test knows that both were warm before a change and
that both answered after it, instead of hoping the kernel spread the connections. Every
request opens its own connection (sync workers do not keep it), so either worker may
take it. Both backends.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import requests
from joserfc import jws

from tests.helpers import TEST_SECRET_KEY
from tests.oidc.helpers import make_client
from tests.postgres import free_port

ROOT = Path(__file__).resolve().parents[2]
#: Requests each worker must have served in a phase; phases stop asking once both have.
EACH = 3
MOST = 400


class Served:
    """Two gunicorn workers on the test's database, and the log of who served what."""

    def __init__(self, base: str, log: Path):
        self.base, self.log, self.mark = base, log, 0

    def phase(self) -> None:
        """Count requests afresh from here."""
        self.mark = len(self._lines())

    def ask(self, method: str, path: str, check, **kwargs) -> None:
        """Send the request on fresh connections until each worker has answered EACH
        requests since the last phase(), running `check` on every response."""
        self.phase()
        for _ in range(MOST):
            # gunicorn's sync workers close every connection: either may take the next.
            response = requests.request(method, self.base + path, timeout=30, **kwargs)
            check(response)
            served = Counter(line.split()[0] for line in self._lines()[self.mark:])
            if len(served) >= 2 and all(count >= EACH for count in served.values()):
                return
        pytest.fail(f"one worker never answered {path}")

    def _lines(self) -> list[str]:
        return [line for line in self.log.read_text().splitlines() if line.strip()] \
            if self.log.exists() else []


@pytest.fixture
def served(app, database_url, tmp_path):
    port = free_port()
    log, errors = tmp_path / "access.log", tmp_path / "gunicorn.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    env.update(TESSERA_ENV="development", TESSERA_SECRET_KEY=TEST_SECRET_KEY,
               TESSERA_DATABASE_URL=database_url, TESSERA_INSTANCE_PATH=str(tmp_path),
               TESSERA_ISSUER=f"http://127.0.0.1:{port}", PYTHONPATH=str(ROOT))
    with errors.open("wb") as stderr:  # the child keeps its own copy of the file
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "app:create_app(serving=True)",
             "--bind", f"127.0.0.1:{port}", "--workers", "2", "--access-logfile", str(log),
             "--access-logformat", "%(p)s %(s)s %(U)s"],
            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stderr)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if requests.get(base + "/healthz", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                if server.poll() is not None:
                    pytest.fail(errors.read_text()[-2000:])
                server_wait(server)
        else:
            pytest.fail("gunicorn did not start")
        yield Served(base, log)
    finally:
        server.terminate()
        server.wait(timeout=30)


def server_wait(server: subprocess.Popen) -> None:
    try:
        server.wait(timeout=0.05)
    except subprocess.TimeoutExpired:
        pass


def kid_of(token: str) -> str:
    return jws.extract_compact(token.encode()).protected["kid"]


def test_both_workers_see_a_rotation_a_new_secret_a_revocation_and_a_deletion(app, served):
    client_id, secret = make_client(app, grant_types=["client_credentials"], scope="openid")
    grant = {"data": {"grant_type": "client_credentials"}}
    issued: list[str] = []

    def granted(response):
        assert response.status_code == 200, response.text
        issued.append(response.json()["access_token"])

    served.ask("POST", "/token", granted, auth=(client_id, secret), **grant)  # both warm
    [old_kid] = {kid_of(token) for token in issued}
    live = issued[-1]

    runner = app.test_cli_runner()
    rotated = runner.invoke(args=["keys", "rotate", "--alg", "ES256", "--json"])
    assert rotated.exit_code == 0, rotated.output
    issued.clear()
    served.ask("POST", "/token", granted, auth=(client_id, secret), **grant)
    assert {kid_of(token) for token in issued} != {old_kid}
    assert len({kid_of(token) for token in issued}) == 1  # every worker signs with the new key

    renewed = runner.invoke(args=["clients", "rotate-secret", client_id, "--json"])
    assert renewed.exit_code == 0, renewed.output
    new_secret = json.loads(renewed.stdout)["client_secret"]
    served.ask("POST", "/token", lambda r: _status(r, 401), auth=(client_id, secret), **grant)
    served.ask("POST", "/introspect", lambda r: _active(r, True), auth=(client_id, new_secret),
               data={"token": live})

    revoked = requests.post(served.base + "/revoke", data={"token": live},
                            auth=(client_id, new_secret), timeout=30)
    assert revoked.status_code == 200
    served.ask("POST", "/introspect", lambda r: _active(r, False),
               auth=(client_id, new_secret), data={"token": live})

    deleted = runner.invoke(args=["clients", "delete", client_id])
    assert deleted.exit_code == 0, deleted.output
    served.ask("POST", "/token", lambda r: _status(r, 401), auth=(client_id, new_secret),
               **grant)


def _status(response, expected: int) -> None:
    assert response.status_code == expected, response.text


def _active(response, expected: bool) -> None:
    assert response.status_code == 200, response.text
    assert response.json()["active"] is expected
