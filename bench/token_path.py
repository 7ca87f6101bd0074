"""`make bench`: Tessera's token path beside node-oidc-provider, with the machine's ceilings.

Run: make bench   (or .venv/bin/python bench/token_path.py [--seconds S] [--backends ...])

Starts Tessera as deployed (gunicorn, docker/entrypoint.sh's flags, 2 workers) on its
embedded SQLite and on a throwaway PostgreSQL (tests/postgres.py), and node-oidc-provider
(bench/peer/server.mjs, installed by `make bench` into bench/peer/node_modules), drives each
with wrk (32 connections, bench/wrk_pool.lua) and prints one table: operation, Tessera/s,
peer/s, ratio, p50, p99, errors (the peer and the ceilings are measured before Tessera and
again after it, and their means used, since a shared machine's speed drifts over a run);
then the ceilings measured in the same run (argon2id verify
at Tessera's cost settings, ES256 signatures with joserfc, each in 1 and 2 processes), and
the floor: bench/floor_app.py, the least a client-credentials grant, an introspection and a
password login can do on Tessera's stack (Flask, SQLAlchemy, gunicorn), on each backend,
served and driven the same way.

Settings, and why: TESSERA_ENV=development, because production refuses SQLite, the console
senders, a memory:// rate-limit store and an http:// issuer (app/config.py, PRODUCTION_RULES);
the same on PostgreSQL so both backends run one configuration. Nothing on the token path
reads those settings (/token and /introspect are exempt from the rate limiter). The login
limit per IP (TESSERA_LOGIN_RATE_LIMIT) is raised, since every request comes from 127.0.0.1.
Every process it starts (gunicorn, node, PostgreSQL) is stopped at the end, also on Ctrl-C.
"""
from __future__ import annotations

import argparse
import base64
import json
import math
import multiprocessing
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
sys.path.insert(0, str(ROOT))

from tests.postgres import PostgresServer, PostgresUnavailable, free_port  # noqa: E402

BIN = Path(sys.executable).parent
#: Where Tessera's code is served from: this checkout, or --tessera DIR (e.g. an export of
#: another commit, `git archive HEAD | tar -x -C DIR`, to measure before and after).
TESSERA = ROOT
SECRET_KEY = "bench-" + secrets.token_urlsafe(40)
RESOURCE = "https://api.bench.example/"
REDIRECT_URI = "http://127.0.0.1:9/callback"
PASSWORD = "violet tractor harbour 1987 quietly"
EMAIL = "bench.customer@example.com"
LOGIN_EMAILS = [f"bench.login{number}@example.com" for number in range(32)]
CONNECTIONS = 32
THREADS = 2
PEER_SERVICE = ("bench-service", "bench-service-secret-0123456789abcdef")
PEER_APP = ("bench-app", "bench-app-secret-0123456789abcdef0123")


# ---- processes ---------------------------------------------------------------------------

class Processes:
    """Every process this bench starts, each in its own process group; stop() ends them."""

    def __init__(self) -> None:
        self.running: list[subprocess.Popen] = []

    def start(self, command: list[str], log: Path, **kwargs) -> subprocess.Popen:
        with open(log, "ab") as output:
            process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT,
                                       start_new_session=True, **kwargs)
        self.running.append(process)
        return process

    def stop(self, process: subprocess.Popen) -> None:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if process in self.running:
            self.running.remove(process)

    def stop_all(self) -> None:
        for process in list(self.running):
            self.stop(process)


def wait_http(url: str, process: subprocess.Popen, log: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"{url} did not come up; its log:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)


def post_form(url: str, fields: dict, auth: tuple[str, str] | None = None) -> dict:
    request = urllib.request.Request(url, data=urllib.parse.urlencode(fields).encode())
    if auth:
        request.add_header("Authorization", basic(*auth))
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def basic(client_id: str, secret: str) -> str:
    pair = f"{urllib.parse.quote(client_id, safe='')}:{urllib.parse.quote(secret, safe='')}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


# ---- wrk ---------------------------------------------------------------------------------

@dataclass
class Result:
    rate: float
    p50: float
    p99: float
    errors: int
    done: int


def drive(base: str, path: str, lines: list[str], *, auth: str = "", cycle: bool,
          seconds: float, expect: int = 200, refuse: str = "", work: Path) -> Result:
    """wrk -t2 -c32 POSTing the pool's lines (round robin, or each once)."""
    pool = work / f"pool-{secrets.token_hex(4)}.txt"
    pool.write_text("\n".join(lines) + "\n")
    env = dict(os.environ, BENCH_PATH=path, BENCH_AUTH=auth, BENCH_POOL=str(pool),
               BENCH_CYCLE="1" if cycle else "0", BENCH_EXPECT=str(expect),
               BENCH_REFUSE=refuse, BENCH_THREADS=str(THREADS))
    completed = subprocess.run(
        ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s",
         "--timeout", "10s", "-s", str(BENCH / "wrk_pool.lua"), base],
        env=env, capture_output=True, text=True, timeout=seconds + 60)
    pool.unlink()
    found = [line for line in completed.stdout.splitlines() if line.startswith('{"ok"')]
    if completed.returncode != 0 or not found:
        sys.exit(f"wrk failed on {base}{path}:\n{completed.stdout}\n{completed.stderr}")
    if completed.stderr.strip():
        print(f"  [{base}{path}] {completed.stderr.strip().splitlines()[0][:200]}", flush=True)
    data = json.loads(found[-1])
    return Result(rate=data["ok"] / data["seconds"], p50=data["p50_ms"], p99=data["p99_ms"],
                  errors=data["bad"] + data["socket_errors"], done=data["ok"])


def pool_size(rate: float, seconds: float) -> int:
    """Enough single-use codes or refresh tokens for `seconds` at 1.5x the grant rate
    measured just before (the wrk script measures over the time it ran if they run out)."""
    return max(500, min(40_000, math.ceil(rate * seconds * 1.5)))


def gunicorn_command(app_spec: str, port: int) -> list[str]:
    """docker/entrypoint.sh's gunicorn command line for `app_spec`, on loopback."""
    return [str(BIN / "gunicorn"), app_spec, "--bind", f"127.0.0.1:{port}",
            "--workers", "2", "--forwarded-allow-ips", "127.0.0.1,::1",
            "--worker-tmp-dir", "/dev/shm", "--access-logfile", "-", "--error-logfile", "-"]


def drive_grants_and_introspection(base: str, client: tuple[str, str], seconds: float,
                                   work: Path) -> dict[str, Result]:
    """Client-credentials grants (after 2 s of warm-up), then introspections of one live
    token, by a confidential client (id, secret) with client_secret_basic."""
    auth = basic(*client)
    client_credentials = ["grant_type=client_credentials&scope=api%3Aread"]
    drive(base, "/token", client_credentials, auth=auth, cycle=True, seconds=2, work=work)
    results = {"client_credentials": drive(base, "/token", client_credentials, auth=auth,
                                           cycle=True, seconds=seconds, work=work)}
    access_token = post_form(base + "/token", {"grant_type": "client_credentials",
                                               "scope": "api:read"}, client)["access_token"]
    results["introspection"] = drive(
        base, "/introspect", [f"token={access_token}"], auth=auth, cycle=True,
        seconds=seconds, refuse='"active":%s*false', work=work)
    return results


def drive_logins(base: str, seconds: float, work: Path) -> Result:
    """Password logins over HTTP, each a form from GET /login (login_pool), answered 303."""
    return drive(base, "/login", login_pool(base, 64), cycle=True, seconds=seconds,
                 expect=303, work=work)


# ---- the peer: node-oidc-provider ----------------------------------------------------------

def measure_peer(processes: Processes, seconds: float, work: Path) -> dict[str, Result]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = work / "peer.log"
    node = processes.start(["node", str(BENCH / "peer" / "server.mjs")], log,
                           env=dict(os.environ, PORT=str(port)), cwd=BENCH / "peer")
    wait_http(base + "/.well-known/openid-configuration", node, log)
    service, app = basic(*PEER_SERVICE), basic(*PEER_APP)
    client_credentials = ["grant_type=client_credentials&scope=api%3Aread"]
    drive(base, "/token", client_credentials, auth=service, cycle=True, seconds=2, work=work)
    results = {"client_credentials": drive(base, "/token", client_credentials, auth=service,
                                           cycle=True, seconds=seconds, work=work)}
    opaque = post_form(base + "/token", {"grant_type": "client_credentials", "scope": "api:read",
                                         "resource": "https://opaque.bench.example/"},
                       PEER_SERVICE)["access_token"]
    results["introspection"] = drive(
        base, "/token/introspection", [f"token={opaque}"], auth=service, cycle=True,
        seconds=seconds, refuse='"active":%s*false', work=work)
    count = pool_size(results["client_credentials"].rate, seconds)
    for kind, name, line in (
            ("refresh", "refresh_token", "grant_type=refresh_token&refresh_token={}"),
            ("code", "authorization_code", "grant_type=authorization_code&code={}&redirect_uri="
             + urllib.parse.quote(REDIRECT_URI, safe=""))):
        with urllib.request.urlopen(f"{base}/__bench/mint?kind={kind}&count={count}",
                                    timeout=120) as response:
            values = json.load(response)
        results[name] = drive(base, "/token", [line.format(v) for v in values], auth=app,
                              cycle=False, seconds=seconds, work=work)
    processes.stop(node)
    return results


# ---- the floor: the same stack doing the least a grant, an introspection, a login can ---------

FLOOR_CLIENT = ("floor-service", "floor-service-secret-0123456789abcdef")


def measure_floor(backend: str, database_url: str, processes: Processes, seconds: float,
                  work: Path) -> dict[str, Result]:
    """bench/floor_app.py on this backend, served as Tessera is (gunicorn, 2 workers, the
    entrypoint's flags), driven with the same client-credentials, introspection and login
    requests."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = work / f"floor-{backend}.log"
    env = dict(os.environ, FLOOR_CLIENT=":".join(FLOOR_CLIENT), FLOOR_DATABASE_URL=database_url
               .replace("postgresql://", "postgresql+psycopg://", 1),
               FLOOR_LOGINS=PASSWORD + ":" + ",".join(LOGIN_EMAILS),
               FLOOR_ARGON2=",".join(str(n) for n in argon2_cost()))
    # The tables first, in one process: two workers starting at once must not race to them.
    subprocess.run([sys.executable, "floor_app.py"], env=env, cwd=BENCH, check=True, timeout=60)
    server = processes.start(gunicorn_command("floor_app:app", port), log, env=env, cwd=BENCH)
    wait_http(base + "/healthz", server, log)
    results = drive_grants_and_introspection(base, FLOOR_CLIENT, seconds, work)
    results["login"] = drive_logins(base, seconds, work)
    processes.stop(server)
    return results


# ---- Tessera ---------------------------------------------------------------------------------

def tessera_env(database_url: str, instance: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    env["PYTHONPATH"] = str(TESSERA)
    env.update(TESSERA_ENV="development", TESSERA_SECRET_KEY=SECRET_KEY,
               TESSERA_DATABASE_URL=database_url, TESSERA_INSTANCE_PATH=str(instance),
               TESSERA_ISSUER=f"http://127.0.0.1:{port}",
               TESSERA_LOGIN_RATE_LIMIT="1000000 per minute")
    return env


def flask_cli(env: dict, *args: str, stdin: str | None = None) -> dict:
    completed = subprocess.run([str(BIN / "flask"), "--app", "app", *args], env=env, cwd=TESSERA,
                               input=stdin, capture_output=True, text=True, timeout=300)
    if completed.returncode != 0:
        sys.exit(f"flask {' '.join(args)} failed:\n{completed.stdout}\n{completed.stderr}")
    return json.loads(completed.stdout) if "--json" in args else {}


def setup_tessera(env: dict) -> tuple[tuple[str, str], tuple[str, str]]:
    """Migrate, register the two confidential clients and one customer through the CLI."""
    flask_cli(env, "db", "upgrade")
    service = flask_cli(env, "clients", "create", "--name", "Bench service",
                        "--grant-type", "client_credentials", "--scope", "api:read",
                        "--resource", RESOURCE, "--json")
    app = flask_cli(env, "clients", "create", "--name", "Bench app", "--first-party",
                    "--redirect-uri", REDIRECT_URI, "--scope", "openid api:read",
                    "--resource", RESOURCE, "--json")
    flask_cli(env, "customers", "create", "--email", EMAIL, "--password-stdin", "--json",
              stdin=PASSWORD + "\n")
    return ((service["client_id"], service["client_secret"]),
            (app["client_id"], app["client_secret"]))


def mint_tessera(env: dict, app_client_id: str, count: int) -> tuple[list[str], list[str]]:
    """`count` authorization codes and `count` refresh tokens, written to the database by
    Tessera's own code in this process: one login session (start_session); codes as the
    authorize view stores them (a keyed hash; alive 10 minutes instead of 60 s, so the
    pool outlasts its minting); refresh tokens from tokens.issue, each its own family."""
    from sqlalchemy import select

    from app import create_app
    from app.auth.levels import ACR_SINGLE_FACTOR
    from app.auth.login import set_password
    from app.auth.sessions import start_session
    from app.directory.customers import add_identifier, create_customer, normalize_identifier
    from app.extensions import db
    from app.models import AuthorizationCode, Customer, LoginSession, OAuthClient, utcnow
    from app.oidc import tokens
    from app.oidc.server import CODE_HASH_PURPOSE
    from app.platform.audit import Origin
    from app.platform.keyed_hash import keyed_hash

    flask_app = create_app({"ENV": "development", "SECRET_KEY": SECRET_KEY,
                            "DATABASE_URL": env["TESSERA_DATABASE_URL"],
                            "INSTANCE_PATH": env["TESSERA_INSTANCE_PATH"],
                            "ISSUER": env["TESSERA_ISSUER"]})
    codes, refresh_tokens = [], []
    with flask_app.app_context():
        customer = db.session.scalars(select(Customer).order_by(Customer.id)).first()
        for email in LOGIN_EMAILS:  # the login pool's customers, as `flask customers create`
            login_customer = create_customer(Origin(actor="bench"), "Bench", "Customer")
            add_identifier(login_customer, normalize_identifier("email", email),
                           Origin(actor="bench"), verified=True)
            set_password(login_customer, PASSWORD, Origin(actor="bench"))
        db.session.commit()
        client = db.session.scalars(select(OAuthClient).where(
            OAuthClient.client_id == app_client_id)).one()
        start_session(customer, ["pwd"], ACR_SINGLE_FACTOR, Origin(actor="bench"))
        db.session.flush()
        login_session = db.session.scalars(select(LoginSession).order_by(
            LoginSession.id.desc())).first()
        now = utcnow()
        for _ in range(count):
            code = secrets.token_urlsafe(36)
            codes.append(code)
            db.session.add(AuthorizationCode(
                code_hash=keyed_hash(CODE_HASH_PURPOSE, code), client_id=app_client_id,
                customer_pk=customer.id, login_session_id=login_session.id,
                redirect_uri=REDIRECT_URI, resources=[RESOURCE], scope="openid api:read",
                auth_time=login_session.auth_time, amr=["pwd"], acr=ACR_SINGLE_FACTOR,
                created_at=now, expires_at=now + timedelta(minutes=10)))
        for _ in range(count):
            issued = tokens.issue(client, "authorization_code", "openid api:read",
                                  customer=customer, include_refresh_token=True,
                                  login_session=login_session)
            refresh_tokens.append(issued["refresh_token"])
        db.session.commit()
        db.engine.dispose()
    return codes, refresh_tokens


def login_pool(base: str, size: int) -> list[str]:
    """`size` (session cookie, form) pairs from GET /login, each POSTed as it would be, for
    the LOGIN_EMAILS customers in turn: many customers log in at once, as in life (one
    customer's concurrent attempts would meet the per-customer login throttle)."""
    lines = []
    for number in range(size):
        with urllib.request.urlopen(base + "/login", timeout=30) as response:
            html = response.read().decode()
            cookies = [header.split(";", 1)[0] for header in response.headers.get_all("Set-Cookie") or []]
        csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or \
            re.search(r'value="([^"]+)"[^>]*name="csrf_token"', html)
        if csrf is None:
            sys.exit("no csrf_token on /login")
        body = urllib.parse.urlencode({"csrf_token": csrf.group(1),
                                       "identifier": LOGIN_EMAILS[number % len(LOGIN_EMAILS)],
                                       "password": PASSWORD})
        lines.append("; ".join(cookies) + "\t" + body)
    return lines


def measure_tessera(backend: str, database_url: str, processes: Processes, seconds: float,
                    work: Path) -> dict[str, Result]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    instance = work / f"instance-{backend}"
    env = tessera_env(database_url, instance, port)
    service, app = setup_tessera(env)
    log = work / f"gunicorn-{backend}.log"
    server = processes.start(gunicorn_command(serving_factory(), port), log, env=env,
                             cwd=TESSERA)
    wait_http(base + "/healthz", server, log)
    rss_at_start = worker_rss_mb(server.pid)
    app_auth = basic(*app)
    results = drive_grants_and_introspection(base, service, seconds, work)
    codes, refresh_tokens = mint_tessera(env, app[0],
                                         pool_size(results["client_credentials"].rate, seconds))
    results["refresh_token"] = drive(
        base, "/token", [f"grant_type=refresh_token&refresh_token={t}" for t in refresh_tokens],
        auth=app_auth, cycle=False, seconds=seconds, work=work)
    redirect = urllib.parse.quote(REDIRECT_URI, safe="")
    results["authorization_code"] = drive(
        base, "/token", [f"grant_type=authorization_code&code={c}&redirect_uri={redirect}"
                         for c in codes], auth=app_auth, cycle=False, seconds=seconds, work=work)
    results["login"] = drive_logins(base, seconds, work)
    RSS[backend] = (rss_at_start, worker_rss_mb(server.pid))
    processes.stop(server)
    return results


def serving_factory() -> str:
    """The entrypoint's app factory call; an older checkout (--tessera) has no `serving`."""
    source = (TESSERA / "app" / "__init__.py").read_text()
    return "app:create_app(serving=True)" if "serving: bool" in source else "app:create_app()"


#: Per backend: the gunicorn workers' resident memory (MB) after start and after the load.
RSS: dict[str, tuple[list[float], list[float]]] = {}


def worker_rss_mb(master_pid: int) -> list[float]:
    """The resident set size of each of gunicorn's workers (the master's children), in MB."""
    sizes = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines()
                          if ":" in line)
        except OSError:
            continue  # the process ended meanwhile
        if fields.get("PPid", "").strip() == str(master_pid) and "VmRSS" in fields:
            sizes.append(int(fields["VmRSS"].split()[0]) / 1024)
    return sorted(sizes)


# ---- ceilings ----------------------------------------------------------------------------------

def argon2_cost() -> tuple[int, int, int]:
    """Tessera's default argon2id cost: (memory KiB, time cost, parallelism)."""
    from app.config import DEFAULTS
    return (int(DEFAULTS["ARGON2_MEMORY_KIB"]), int(DEFAULTS["ARGON2_TIME_COST"]),
            int(DEFAULTS["ARGON2_PARALLELISM"]))


def _argon2_rate(seconds: float) -> float:
    from argon2 import PasswordHasher, Type

    memory_kib, time_cost, parallelism = argon2_cost()
    hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib,
                            parallelism=parallelism, type=Type.ID)
    stored = hasher.hash(PASSWORD)
    return _loop(lambda: hasher.verify(stored, PASSWORD), seconds)


def _es256_rate(seconds: float) -> float:
    from joserfc import jwt
    from joserfc.jwk import ECKey
    key = ECKey.generate_key("P-256")
    header = {"alg": "ES256", "kid": "bench", "typ": "at+jwt"}

    def sign():
        now = int(time.time())
        jwt.encode(header, {"iss": "http://127.0.0.1:5000", "aud": RESOURCE, "iat": now,
                            "exp": now + 600, "jti": secrets.token_urlsafe(24),
                            "client_id": "bench", "scope": "api:read", "sub": "bench"},
                   key, algorithms=["ES256"])
    return _loop(sign, seconds)


def _loop(action, seconds: float) -> float:
    action()
    done, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        action()
        done += 1
    return done / elapsed


def _ceiling(which: str, seconds: float) -> float:
    return {"argon2": _argon2_rate, "es256": _es256_rate}[which](seconds)


def ceilings(seconds: float = 2.0) -> dict[str, tuple[float, float]]:
    """(one process, two processes) per operation: the machine's raw capacity."""
    found = {}
    context = multiprocessing.get_context("spawn")
    for which in ("argon2", "es256"):
        one = _ceiling(which, seconds)
        with context.Pool(2) as pool:
            two = sum(pool.starmap(_ceiling, [(which, seconds)] * 2))
        found[which] = (one, two)
    return found


def _mean_peer(runs: list[dict[str, Result]]) -> dict[str, Result] | None:
    """Per operation, the mean of the peer's runs (rates, p50, p99; errors summed)."""
    if not runs:
        return None
    return {key: Result(rate=sum(run[key].rate for run in runs) / len(runs),
                        p50=sum(run[key].p50 for run in runs) / len(runs),
                        p99=sum(run[key].p99 for run in runs) / len(runs),
                        errors=sum(run[key].errors for run in runs),
                        done=sum(run[key].done for run in runs))
            for key in runs[0]}


def _mean_ceilings(first: dict[str, tuple[float, float]],
                   second: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
    return {name: ((first[name][0] + second[name][0]) / 2,
                   (first[name][1] + second[name][1]) / 2) for name in first}


# ---- the table -----------------------------------------------------------------------------------

OPERATIONS = (("client_credentials", "client_credentials grant"),
              ("introspection", "introspection"),
              ("refresh_token", "refresh-token grant"),
              ("authorization_code", "authorization-code redemption"))
FLOOR_OPERATIONS = (("client_credentials", "client_credentials grant"),
                    ("introspection", "introspection"),
                    ("login", "password login (HTTP, CSRF, form)"))


def print_table(tessera: dict[str, dict[str, Result]], peer: dict[str, Result] | None,
                ceiling: dict[str, tuple[float, float]], seconds: float,
                floor: dict[str, dict[str, Result]] | None = None,
                peer_runs: list[dict[str, Result]] | None = None) -> None:
    argon2_one, argon2_two = ceiling["argon2"]
    es256_one, es256_two = ceiling["es256"]
    print()
    print(f"wrk -t{THREADS} -c{CONNECTIONS}, {seconds:g} s per operation, loopback, "
          f"{os.cpu_count()} cores; Tessera ({TESSERA}): gunicorn, 2 workers; "
          f"peer: node-oidc-provider {peer_version()}, one process; load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} (a shared machine shows here)")
    heading = (f"{'operation':<46} {'Tessera/s':>9} {'peer/s':>9} {'ratio':>6}  "
               f"{'p50 ms T|peer':>15} {'p99 ms T|peer':>15} {'errors T|peer':>13}")
    print(heading)
    print("-" * len(heading))
    for backend, results in tessera.items():
        for key, label in OPERATIONS:
            mine, theirs = results[key], (peer or {}).get(key)
            print(f"{label + ', ' + backend:<46} {mine.rate:9.0f} "
                  f"{theirs.rate if theirs else float('nan'):9.0f} "
                  f"{mine.rate / theirs.rate if theirs else float('nan'):6.2f}  "
                  f"{_pair(mine.p50, theirs and theirs.p50):>15} "
                  f"{_pair(mine.p99, theirs and theirs.p99):>15} "
                  f"{_pair(mine.errors, theirs and theirs.errors, '{:d}'):>13}")
        login = results["login"]
        print(f"{'password login (HTTP, CSRF, form), ' + backend:<46} {login.rate:9.1f} "
              f"{argon2_two:9.1f} {login.rate / argon2_two:6.2f}  "
              f"{login.p50:>15.1f} {login.p99:>15.1f} {login.errors:>13d}"
              "   (peer/s: argon2id verify ceiling, 2 processes)")
    print("-" * len(heading))
    for backend, (start, end) in RSS.items():
        print(f"RSS per worker, {backend}: " + " ".join(f"{mb:.0f}" for mb in start)
              + " MB after start, " + " ".join(f"{mb:.0f}" for mb in end)
              + " MB after the load above")
    if peer_runs and len(peer_runs) > 1:
        print("peer/s is the mean of a run before Tessera and one after: " + ", ".join(
            f"{label} {peer_runs[0][key].rate:.0f} then {peer_runs[-1][key].rate:.0f}"
            for key, label in OPERATIONS))
    print(f"ceiling: argon2id verify, Tessera's cost: {argon2_one:8.1f}/s in 1 process, "
          f"{argon2_two:8.1f}/s in 2")
    print(f"ceiling: ES256 JWT sign (joserfc):        {es256_one:8.0f}/s in 1 process, "
          f"{es256_two:8.0f}/s in 2   (each ceiling: the mean of a run before and one after)")
    for backend, least in (floor or {}).items():
        print(f"floor, {backend}: the same operations on Tessera's stack with nothing else "
              f"(bench/floor_app.py: Flask, SQLAlchemy Core, gunicorn as above; no Authlib, "
              f"ORM, hooks, throttle, session row or audit):")
        for key, label in FLOOR_OPERATIONS:
            mine, theirs = least[key], (peer or {}).get(key)
            against = (f"{mine.rate / argon2_two:.2f}x the argon2id ceiling" if key == "login"
                       else f"{mine.rate / theirs.rate:.2f}x the peer" if theirs else "")
            print(f"  {label:<44} {mine.rate:8.1f}/s ({against + ', ' if against else ''}"
                  f"p50 {mine.p50:.1f} ms, p99 {mine.p99:.1f} ms, {mine.errors} errors); "
                  f"Tessera's is {tessera[backend][key].rate / mine.rate:.2f}x of it")


def _pair(mine, theirs, form: str = "{:.1f}") -> str:
    return form.format(mine) + "|" + (form.format(theirs) if theirs is not None else "-")


def peer_version() -> str:
    try:
        package = BENCH / "peer" / "node_modules" / "oidc-provider" / "package.json"
        return json.loads(package.read_text())["version"]
    except OSError:
        return "?"


def compile_catalogs(directory: Path) -> None:
    """Compile the translation catalogs of another copy of the code (`--tessera`), as
    `make translations-compile` does here: an export (`git archive`) has only the .po
    sources, and Tessera refuses to start without the compiled .mo files."""
    completed = subprocess.run(
        [str(BIN / "pybabel"), "compile", "-d", str(directory / "app" / "translations")],
        capture_output=True, text=True, timeout=300)
    if completed.returncode != 0:
        sys.exit(f"pybabel compile failed in {directory}:\n{completed.stderr}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per operation (default 5)")
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"],
                        choices=["sqlite", "postgresql"])
    parser.add_argument("--no-peer", action="store_true", help="skip node-oidc-provider")
    parser.add_argument("--no-floor", action="store_true", help="skip bench/floor_app.py")
    parser.add_argument("--tessera", type=Path, default=ROOT,
                        help="serve Tessera's code from this directory (default: this checkout)")
    args = parser.parse_args()
    global TESSERA
    TESSERA = args.tessera.resolve()
    if TESSERA != ROOT:
        compile_catalogs(TESSERA)
    sys.path.insert(0, str(TESSERA))
    for name in [k for k in os.environ if k.startswith("TESSERA_")]:
        del os.environ[name]  # the bench's settings only, in this process and its children
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    if not args.no_peer and not (BENCH / "peer" / "node_modules" / "oidc-provider").is_dir():
        sys.exit("node-oidc-provider is not installed: run `make bench`")

    work = Path(tempfile.mkdtemp(prefix="tessera-bench-"))
    processes = Processes()
    postgres = None
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    started = time.monotonic()
    try:
        print("ceilings (argon2id, ES256) ...", flush=True)
        ceiling = ceilings()
        peer_runs: list[dict[str, Result]] = []
        if not args.no_peer:
            print("node-oidc-provider ...", flush=True)
            peer_runs.append(measure_peer(processes, args.seconds, work))
        floor: dict[str, dict[str, Result]] = {}
        tessera = {}
        for backend in args.backends:
            print(f"Tessera on {backend} ...", flush=True)
            if backend == "sqlite":
                url = f"sqlite:///{work / 'tessera.db'}"
            else:
                try:
                    postgres = PostgresServer().start()
                except PostgresUnavailable as error:
                    print(f"  skipped: {error}")
                    continue
                url = postgres.url
            if not args.no_floor:  # its own SQLite file; its own tables on PostgreSQL
                print(f"the floor (bench/floor_app.py) on {backend} ...", flush=True)
                floor_url = f"sqlite:///{work / 'floor.db'}" if backend == "sqlite" else url
                floor[backend] = measure_floor(backend, floor_url, processes, args.seconds,
                                               work)
            tessera[backend] = measure_tessera(backend, url, processes, args.seconds, work)
            if postgres is not None:
                postgres.stop()
                postgres = None
        if not args.no_peer:
            # Again after Tessera: a shared machine's speed drifts over the minutes of a
            # run, so each ratio uses the mean of a measurement before and one after.
            print("node-oidc-provider, again ...", flush=True)
            peer_runs.append(measure_peer(processes, args.seconds, work))
        print("ceilings, again ...", flush=True)
        ceiling = _mean_ceilings(ceiling, ceilings())
        print_table(tessera, _mean_peer(peer_runs), ceiling, args.seconds, floor, peer_runs)
        print(f"({time.monotonic() - started:.0f} s in all)")
    finally:
        processes.stop_all()
        if postgres is not None:
            postgres.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
