"""The committed migrations build exactly the schema the models describe."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from app.extensions import db


def test_models_and_migrations_agree(app_context):
    """Autogenerate, run against the migrated database, finds nothing to change."""
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, db.metadata)
    assert differences == []


def test_upgrade_builds_every_table(app_context):
    """`flask db upgrade` (run by the fixtures) created every model's table."""
    tables = set(inspect(db.engine).get_table_names())
    assert {t.name for t in db.metadata.sorted_tables} <= tables
    assert "alembic_version" in tables


def test_comparison_notices_a_model_the_migrations_lack(app_context):
    """The check above can fail: a table the migrations never made is reported."""
    from sqlalchemy import Column, Integer, MetaData, Table

    extended = MetaData()
    for table in db.metadata.sorted_tables:
        table.to_metadata(extended)
    Table("not_migrated", extended, Column("id", Integer, primary_key=True))
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, extended)
    assert [d[0] for d in differences] == ["add_table"]
