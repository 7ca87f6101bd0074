# Tessera production image: gunicorn serving app:create_app() on port 8000.
#
# The image runs with TESSERA_ENV=production, where the app refuses to start unless these
# are set (at run time, never baked in):
#   TESSERA_SECRET_KEY             at least 32 random characters
#   TESSERA_DATABASE_URL           PostgreSQL, e.g. postgresql://user:password@db/tessera
#   TESSERA_ISSUER                 the public https:// URL, without a trailing slash
#   TESSERA_RATELIMIT_STORAGE_URI  shared counters, e.g. redis://redis:6379/0
#   TESSERA_SMS_PROVIDER           twilio or twilio-verify (and its TESSERA_TWILIO_* settings)
#   TESSERA_EMAIL_PROVIDER         smtp (and its TESSERA_SMTP_* settings)
# and every cost and limit at or above its safe floor (README, "Security").
# Behind a proxy also set TESSERA_TRUSTED_PROXY_COUNT and FORWARDED_ALLOW_IPS.
# Serving and migration knobs (WEB_CONCURRENCY, MIGRATE_ON_START): docker/entrypoint.sh.
#
#   docker build -t tessera .
#   docker run --env-file prod.env -p 8000:8000 tessera

FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/srv/tessera \
    TESSERA_ENV=production \
    TESSERA_INSTANCE_PATH=/srv/tessera/instance

# A writable home: gunicorn (27+) puts its control socket in ~/.gunicorn.
RUN groupadd --system --gid 10001 tessera \
 && useradd --system --uid 10001 --gid tessera --home-dir /home/tessera --create-home \
        --shell /usr/sbin/nologin tessera

# Where the code runs from, and why it is not imported from site-packages:
# Flask-Migrate finds the migrations at PROJECT_ROOT/migrations, PROJECT_ROOT being the
# parent of the `app` package, so `app` must be imported from /srv/tessera, next to
# /srv/tessera/migrations. `pip install .` is therefore run on pyproject.toml alone: with no
# app/ beside it, it installs the dependencies and the distribution's metadata but no code
# (one copy of the code, and a dependency layer that is rebuilt only when pyproject.toml or
# README.md change). The code is then copied to /srv/tessera, which PYTHONPATH (and the
# working directory, for gunicorn and the flask CLI) puts on sys.path.
COPY pyproject.toml README.md /tmp/tessera-build/
RUN pip install /tmp/tessera-build \
 && rm -rf /tmp/tessera-build

WORKDIR /srv/tessera
# Code and migrations stay owned by root (read-only to the server); only instance/ is
# writable by it.
COPY app ./app
COPY migrations ./migrations
# The translation catalogs, compiled at build time (the app refuses to offer a language
# whose catalog is not compiled).
RUN pybabel compile -d app/translations
COPY --chmod=0755 docker/entrypoint.sh /usr/local/bin/tessera-entrypoint
RUN mkdir -p /srv/tessera/instance \
 && chown tessera:tessera /srv/tessera/instance

# Numeric, so runtimes that check runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001
EXPOSE 8000

# Liveness only (/healthz touches no database); /readyz is for a load balancer's readiness.
# python rather than curl: the slim image has no curl.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=3).status == 200 else 1)"]

ENTRYPOINT ["/usr/local/bin/tessera-entrypoint"]
