"""self-service on the hosted pages (issue 14): what customers see of an app (logo, home,
privacy and terms links) and the customer's time zone

Revision ID: 7d1e5a0c9b14
Revises: 5ec0a1d12f00
Create Date: 2026-12-07 03:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '7d1e5a0c9b14'
down_revision = '5ec0a1d12f00'
branch_labels = None
depends_on = None


def upgrade():
    # --- which app: client display metadata (RFC 7591 names) ----------------------------
    with op.batch_alter_table('oauth_clients') as batch_op:
        for column in ('logo_uri', 'client_uri', 'policy_uri', 'tos_uri'):
            batch_op.add_column(sa.Column(column, sa.String(length=2000), nullable=True))
    # --- the profile's time zone (the ID token's zoneinfo) -------------------------------
    with op.batch_alter_table('customers') as batch_op:
        batch_op.add_column(sa.Column('zoneinfo', sa.String(length=64), nullable=True))


def downgrade():
    # --- the profile's time zone (the ID token's zoneinfo) -------------------------------
    with op.batch_alter_table('customers') as batch_op:
        batch_op.drop_column('zoneinfo')
    # --- which app: client display metadata (RFC 7591 names) ----------------------------
    with op.batch_alter_table('oauth_clients') as batch_op:
        for column in ('tos_uri', 'policy_uri', 'client_uri', 'logo_uri'):
            batch_op.drop_column(column)
