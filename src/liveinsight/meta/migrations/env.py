"""Alembic environment: the engine comes from ``liveinsight.meta.db.upgrade``."""

from alembic import context

from liveinsight.meta.models import Base

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
