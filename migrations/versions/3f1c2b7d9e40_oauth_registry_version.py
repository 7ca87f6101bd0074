"""the OAuth registry's version (issue 15): one row that every change to a client or a
signing key rewrites, so each worker's caches of them check one row per request

Revision ID: 3f1c2b7d9e40
Revises: 95535a476663
Create Date: 2026-12-10 09:00:00

"""
import secrets

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '3f1c2b7d9e40'
down_revision = '95535a476663'
branch_labels = None
depends_on = None


def upgrade():
    table = op.create_table(
        'oauth_registry_version',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('version', sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.bulk_insert(table, [{'id': 1, 'version': secrets.token_hex(16)}])


def downgrade():
    op.drop_table('oauth_registry_version')
