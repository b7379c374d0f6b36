"""The metadata migrations build exactly the schema the models declare (a model change without
its migration, or a migration without its model change, fails here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from liveinsight.meta.db import (
    alembic_config,
    applied_revision,
    head_revision,
    make_engine,
    upgrade,
)
from liveinsight.meta.models import Base


def test_migrations_match_the_models(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'meta.db'}")
    upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []



def test_the_head_revision_is_alembics_and_a_database_at_it_is_left_alone(
        tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'meta.db'}"
    engine = make_engine(url)
    assert applied_revision(engine) is None  # a new database
    assert ScriptDirectory.from_config(alembic_config(engine)).get_heads() == [head_revision()]
    upgrade(engine)
    assert applied_revision(engine) == head_revision()
    engine.dispose()
    # At the head, upgrading does not even load Alembic (every CLI command and start does it).
    check = ("import sys; from liveinsight.meta.db import make_engine, upgrade; "
             f"upgrade(make_engine({url!r})); assert 'alembic' not in sys.modules")
    subprocess.run([sys.executable, "-c", check], check=True, timeout=120)
