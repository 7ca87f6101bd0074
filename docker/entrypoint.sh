#!/bin/sh
# Container entry point for the Tessera image.
#
#   (no arguments)  apply database migrations, then serve with gunicorn on 0.0.0.0:8000
#   COMMAND ...     run that instead, without migrating (one-off tasks), for example
#                   docker run --rm --env-file prod.env IMAGE flask --app app db upgrade
#
# Environment read here (the app's own settings are the TESSERA_* variables):
#   WEB_CONCURRENCY     gunicorn worker processes (default 2)
#   FORWARDED_ALLOW_IPS addresses whose X-Forwarded-Proto/-For gunicorn trusts
#                       (default 127.0.0.1,::1; set it to your load balancer's addresses)
#   MIGRATE_ON_START    1 (default) runs `flask db upgrade` first. Alembic takes no lock, so
#                       with several instances run the upgrade once as a release step and
#                       set MIGRATE_ON_START=0 on the servers.
set -eu

if [ "$#" -gt 0 ]; then
    exec "$@"
fi

if [ "${MIGRATE_ON_START:-1}" = 1 ]; then
    flask --app app db upgrade
fi

exec gunicorn 'app:create_app(serving=True)' \
    --bind 0.0.0.0:8000 \
    --workers "${WEB_CONCURRENCY:-2}" \
    --forwarded-allow-ips "${FORWARDED_ALLOW_IPS:-127.0.0.1,::1}" \
    --worker-tmp-dir /dev/shm \
    --access-logfile - \
    --error-logfile -
