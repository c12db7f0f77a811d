"""A feature keeps its own schema revisions in its package: upgrade reads them beside the core's, one history."""

from __future__ import annotations

from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

from bot.lifecycle.features import Feature, migration_locations
from bot.routing.router import Router
from bot.state.migrations import alembic_config, upgrade
from bot.state.store import sync_url

REVISION = """
revision = "example_feature_0001"
down_revision = "{head}"
branch_labels = None
depends_on = None

import sqlalchemy as sa
from alembic import op


def upgrade() -> None:
    op.create_table("example_feature_notes", sa.Column("id", sa.Integer(), primary_key=True))


def downgrade() -> None:
    op.drop_table("example_feature_notes")
"""


def test_a_features_own_revisions_are_applied(tmp_path: Path, database_url: str) -> None:
    head = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "example_feature_0001_notes.py").write_text(REVISION.format(head=head), encoding="utf-8")
    feature = Feature(Router("example_feature"), migrations=folder)

    upgrade(database_url, migration_locations([feature]))
    upgrade(database_url, migration_locations([feature]))  # a second start-up changes nothing

    engine = create_engine(sync_url(database_url))
    with engine.connect() as connection:
        assert "example_feature_notes" in inspect(connection).get_table_names()
    engine.dispose()
    scripts = ScriptDirectory.from_config(alembic_config(database_url, [folder]))
    assert scripts.get_current_head() == "example_feature_0001"
