"""the admin listing filtered by status (issue 15): an index on (status, created_at,
customer_id), so a page of locked or erased customers is one indexed range read at any
size instead of a scan of every customer

Revision ID: 95535a476663
Revises: 7d1e5a0c9b14
Create Date: 2026-12-09 10:00:00

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '95535a476663'
down_revision = '7d1e5a0c9b14'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('customers') as batch_op:
        batch_op.create_index('ix_customers_status_created_at_customer_id',
                              ['status', 'created_at', 'customer_id'], unique=False)


def downgrade():
    with op.batch_alter_table('customers') as batch_op:
        batch_op.drop_index('ix_customers_status_created_at_customer_id')
