"""Teams, members and guests against SQLite (always) and PostgreSQL (when reachable), and the
metadata migration that gives existing sites and users a team."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from liveinsight.meta.db import alembic_config, make_engine, upgrade
from liveinsight.meta.people import People
from liveinsight.meta.repo import Metadata, MetaError
from liveinsight.security.roles import Role, effective, parse_role
from tests.meta.test_repo import meta  # noqa: F401  (the SQLite/PostgreSQL fixture)


def test_roles_are_ordered_and_parsed() -> None:
    assert Role.VIEWER < Role.EDITOR < Role.ADMIN < Role.OWNER
    assert parse_role(" Editor ") == Role.EDITOR
    with pytest.raises(ValueError, match="viewer, editor, admin"):
        parse_role("owner", ("viewer", "editor", "admin"))
    assert effective(None, None) is None
    assert effective(Role.VIEWER, Role.ADMIN) == effective(Role.ADMIN, Role.VIEWER) == Role.ADMIN


def test_a_team_members_role_reaches_every_site_of_the_team(meta: Metadata) -> None:  # noqa: F811
    people = People(meta.engine)
    ann = meta.create_user("ann@example.com", "long enough 1")
    bob = meta.create_user("bob@example.com", "long enough 2")
    team = people.create_team("Acme", ann.id)
    a = meta.create_site("a.example", team_id=team.id)
    b = meta.create_site("b.example", team_id=team.id)
    c = meta.create_site("c.example")
    assert people.site_roles(ann.id) == {a.id: Role.OWNER, b.id: Role.OWNER}
    people.set_team_role(team.id, bob.id, "viewer")
    people.set_guest_role(b.id, bob.id, "admin")
    people.set_guest_role(c.id, bob.id, "editor")
    assert people.site_roles(bob.id) == {a.id: Role.VIEWER, b.id: Role.ADMIN, c.id: Role.EDITOR}
    assert [(m.email, m.role, m.via) for m in people.site_people(b.id)] == [
        ("ann@example.com", Role.OWNER, "team"), ("bob@example.com", Role.VIEWER, "team"),
        ("bob@example.com", Role.ADMIN, "guest")]
    assert people.teams_of(bob.id) == [(team, Role.VIEWER)]
    people.remove_team_member(team.id, bob.id)
    people.remove_guest(c.id, bob.id)
    assert people.site_roles(bob.id) == {b.id: Role.ADMIN}
    with pytest.raises(MetaError, match="not a guest"):
        people.remove_guest(c.id, bob.id)


def test_a_team_keeps_an_owner_and_guests_are_never_owners(meta: Metadata) -> None:  # noqa: F811
    people = People(meta.engine)
    ann = meta.create_user("ann@example.com", "long enough 1")
    bob = meta.create_user("bob@example.com", "long enough 2")
    team = people.create_team("Acme", ann.id)
    site = meta.create_site("a.example", team_id=team.id)
    with pytest.raises(MetaError, match="at least one owner"):
        people.set_team_role(team.id, ann.id, "admin")
    with pytest.raises(MetaError, match="at least one owner"):
        people.remove_team_member(team.id, ann.id)
    people.set_team_role(team.id, bob.id, "owner")
    people.set_team_role(team.id, ann.id, "admin")
    assert people.team_role(ann.id, team.id) == Role.ADMIN
    with pytest.raises(MetaError, match=r"role must be one of viewer, editor, admin$"):
        people.set_guest_role(site.id, ann.id, "owner")
    with pytest.raises(MetaError, match="role must be one of"):
        people.set_team_role(team.id, ann.id, "root")
    with pytest.raises(MetaError, match="1 to 100"):
        people.create_team(" ")
    with pytest.raises(MetaError, match="no user"):
        people.set_guest_role(site.id, 999, "viewer")


def test_moving_a_site_changes_whose_team_role_counts(meta: Metadata) -> None:  # noqa: F811
    moved: list[int] = []
    people = People(meta.engine, on_site_change=lambda: moved.append(1))
    ann = meta.create_user("ann@example.com", "long enough 1")
    bob = meta.create_user("bob@example.com", "long enough 2")
    first, second = people.create_team("One", ann.id), people.create_team("Two", bob.id)
    site = meta.create_site("a.example", team_id=first.id)
    people.move_site(site.id, second.id)
    assert moved == [1]
    assert people.site_roles(ann.id) == {} and people.site_roles(bob.id) == {site.id: Role.OWNER}
    assert meta.site(site.id).team_id == second.id  # type: ignore[union-attr]
    with pytest.raises(MetaError, match="no team"):
        people.move_site(site.id, 999)


def test_a_sites_name_defaults_to_its_clean_domain(meta: Metadata) -> None:  # noqa: F811
    assert meta.create_site("https://www.Example.com/path").name == "example.com"
    assert meta.create_site("b.example", name="  Shop ").name == "Shop"


def test_the_migration_puts_existing_sites_and_users_in_a_default_team(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    command.upgrade(alembic_config(engine), "0005")
    with engine.begin() as conn:
        for domain in ("a.example", "b.example"):
            conn.execute(text("INSERT INTO sites (uuid, domain, name, aliases, timezone, "
                              "currency, retention_days, enabled, public, "
                              "require_signed_ingest, blocked_ips, blocked_paths, "
                              "blocked_hosts, created_at) VALUES (:u, :d, '', '[]', 'UTC', "
                              "'USD', 0, 1, 0, 0, '[]', '[]', '[]', CURRENT_TIMESTAMP)"),
                         {"u": domain, "d": domain})
        for email, role in (("root@example.com", "admin"), ("eve@example.com", "viewer")):
            conn.execute(text("INSERT INTO users (email, password_hash, role, created_at) "
                              "VALUES (:e, 'x', :r, CURRENT_TIMESTAMP)"), {"e": email, "r": role})
    upgrade(engine)
    repo, people = Metadata(engine), People(engine)
    [team] = people.teams()
    assert team.name == "Default team"
    assert {s.team_id for s in repo.sites()} == {team.id}
    assert [(m.email, m.role) for m in people.team_members(team.id)] == [
        ("eve@example.com", Role.VIEWER), ("root@example.com", Role.OWNER)]
    engine.dispose()


def test_the_migration_makes_no_team_on_an_empty_database(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'new.db'}")
    upgrade(engine)
    assert People(engine).teams() == []
    engine.dispose()
