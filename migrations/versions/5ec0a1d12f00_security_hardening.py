"""security hardening (issue 12): admin clients, resource servers, refresh family
lifetimes, sign-up code failure counts and the other columns the fixes need

Revision ID: 5ec0a1d12f00
Revises: 8b6c7f28026a
Create Date: 2026-12-06 23:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5ec0a1d12f00'
down_revision = '8b6c7f28026a'
branch_labels = None
depends_on = None


def upgrade():
    # --- OAuth clients and tokens --------------------------------------------------------
    with op.batch_alter_table('oauth_clients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('is_admin', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column('resources', sa.JSON(), nullable=False,
                                      server_default='[]'))
        batch_op.add_column(sa.Column('resource_server_audience', sa.String(length=2000),
                                      nullable=True))
        batch_op.create_unique_constraint('uq_oauth_clients_resource_server_audience',
                                          ['resource_server_audience'])
    with op.batch_alter_table('oauth_clients', schema=None) as batch_op:
        batch_op.alter_column('is_admin', server_default=None)
        batch_op.alter_column('resources', server_default=None)
    _mark_existing_admin_clients()
    with op.batch_alter_table('oauth_authorization_codes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('resources', sa.JSON(), nullable=False,
                                      server_default='[]'))
    with op.batch_alter_table('oauth_authorization_codes', schema=None) as batch_op:
        batch_op.alter_column('resources', server_default=None)
    with op.batch_alter_table('oauth_issued_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('family_expires_at', sa.DateTime(), nullable=True))
    # --- auth, sign-up and identifiers ----------------------------------------------------
    # Item 8: usernames get a TS #39 confusable skeleton under a unique index, and email
    # match keys lower-case the local part instead of case-folding it.
    with op.batch_alter_table('identifiers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('skeleton', sa.String(length=512), nullable=True))
    _rekey_emails(_email_key_lower)
    _fill_username_skeletons()
    with op.batch_alter_table('identifiers', schema=None) as batch_op:
        batch_op.create_unique_constraint('uq_identifiers_kind_skeleton', ['kind', 'skeleton'])
    # --- support recovery, phone trust and SMS --------------------------------------------
    # --- infrastructure -------------------------------------------------------------------


def downgrade():
    # --- infrastructure -------------------------------------------------------------------
    # --- support recovery, phone trust and SMS --------------------------------------------
    # --- auth, sign-up and identifiers ----------------------------------------------------
    with op.batch_alter_table('identifiers', schema=None) as batch_op:
        batch_op.drop_constraint('uq_identifiers_kind_skeleton', type_='unique')
        batch_op.drop_column('skeleton')
    _rekey_emails(str.casefold)
    # --- OAuth clients and tokens --------------------------------------------------------
    with op.batch_alter_table('oauth_issued_tokens', schema=None) as batch_op:
        batch_op.drop_column('family_expires_at')
    with op.batch_alter_table('oauth_authorization_codes', schema=None) as batch_op:
        batch_op.drop_column('resources')
    with op.batch_alter_table('oauth_clients', schema=None) as batch_op:
        batch_op.drop_constraint('uq_oauth_clients_resource_server_audience', type_='unique')
        batch_op.drop_column('resource_server_audience')
        batch_op.drop_column('resources')
        batch_op.drop_column('is_admin')


def _mark_existing_admin_clients():
    """Clients an operator registered with admin scopes before admin clients existed are
    admin clients: keep them working. A client that merely *asked* for admin scopes was
    never registered for them, so it is not marked."""
    connection = op.get_bind()
    clients = sa.table('oauth_clients', sa.column('id', sa.Integer),
                       sa.column('scope', sa.Text), sa.column('is_admin', sa.Boolean))
    for row in connection.execute(sa.select(clients.c.id, clients.c.scope)).all():
        if any(scope.startswith('admin:') for scope in (row.scope or '').split()):
            connection.execute(clients.update().where(clients.c.id == row.id)
                               .values(is_admin=True))


# --- auth, sign-up and identifiers: data ---------------------------------------------------

def _email_key_lower(value):
    """The email match key of app/identity/identifiers.py (email_match_key), written out
    here so this migration keeps its meaning whatever the app's code becomes: the local
    part in NFC and lower case (not case-folded: Straße@ and strasse@ are two mailboxes),
    the domain (stored IDNA ASCII) in lower case."""
    import unicodedata
    local, _, domain = value.rpartition('@')
    return f"{unicodedata.normalize('NFC', local.lower())}@{domain.lower()}"


def _rekey_emails(key_of):
    """Recompute the match key of every email identifier and pending email code from its
    stored value. Upgrading cannot collide (lower case is finer than case folding); on
    downgrade a row whose old key is already taken (a look-alike added since) keeps its
    new key, and a warning says so."""
    import logging
    connection = op.get_bind()
    for table_name, value_column in (('identifiers', 'value'),
                                     ('verification_codes', 'destination')):
        table = sa.table(table_name, sa.column('id', sa.Integer),
                         sa.column('kind', sa.String), sa.column(value_column, sa.String),
                         sa.column('match_key', sa.String))
        rows = connection.execute(
            sa.select(table.c.id, table.c[value_column], table.c.match_key)
            .where(table.c.kind == 'email').order_by(table.c.id)).all()
        taken = {row.match_key for row in rows}
        for row in rows:
            key = key_of(row[1])
            if key == row.match_key:
                continue
            if table_name == 'identifiers' and key in taken:
                logging.getLogger('alembic.runtime.migration').warning(
                    'identifier %s keeps its match key: %r is taken', row.id, key)
                continue
            taken.add(key)
            connection.execute(table.update().where(table.c.id == row.id)
                               .values(match_key=key))


def _fill_username_skeletons():
    """Give every username its TS #39 skeleton (ICU, as username_skeleton in
    app/identity/identifiers.py). Look-alike usernames that already coexist keep working:
    the oldest holds the skeleton, the others keep none (a warning lists them), and from
    now on no new look-alike of any of them can be added."""
    import logging

    import icu
    checker = icu.SpoofChecker()
    connection = op.get_bind()
    table = sa.table('identifiers', sa.column('id', sa.Integer), sa.column('kind', sa.String),
                     sa.column('value', sa.String), sa.column('skeleton', sa.String))
    seen = set()
    for row in connection.execute(sa.select(table.c.id, table.c.value)
                                  .where(table.c.kind == 'username').order_by(table.c.id)
                                  ).all():
        skeleton = checker.getSkeleton(0, row.value)
        if skeleton in seen:
            logging.getLogger('alembic.runtime.migration').warning(
                'username identifier %s looks like an older one; it keeps no skeleton', row.id)
            continue
        seen.add(skeleton)
        connection.execute(table.update().where(table.c.id == row.id)
                           .values(skeleton=skeleton))
