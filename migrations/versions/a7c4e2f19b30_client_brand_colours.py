"""an app's own colours on the pages reached through its authorization request (issue
16): client metadata brand_colors, a JSON object of role -> #rrggbb

Revision ID: a7c4e2f19b30
Revises: 3f1c2b7d9e40
Create Date: 2026-12-07 13:10:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'a7c4e2f19b30'
down_revision = '3f1c2b7d9e40'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('oauth_clients') as batch_op:
        batch_op.add_column(sa.Column('brand_colors', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('oauth_clients') as batch_op:
        batch_op.drop_column('brand_colors')
