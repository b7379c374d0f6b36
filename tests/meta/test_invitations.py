"""Invitations against SQLite (always) and PostgreSQL (when reachable)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from liveinsight.meta.invitations import MAX_PENDING, Invitations
from liveinsight.meta.people import People
from liveinsight.meta.repo import Metadata, MetaError
from liveinsight.security.roles import Role
from tests.meta.test_repo import meta  # noqa: F401  (the SQLite/PostgreSQL fixture)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
WEEK = timedelta(days=7)


def test_an_invitation_is_accepted_once_by_the_invited_person(meta: Metadata) -> None:  # noqa: F811
    invitations, people = Invitations(meta.engine), People(meta.engine)
    site = meta.create_site("a.example")
    ann = meta.create_user("ann@example.com", "long enough 1")
    bob = meta.create_user("bob@example.com", "long enough 2")
    info, nonce = invitations.create(" Bob@Example.com ", "editor", invited_by=ann.id,
                                     now=NOW, ttl=WEEK, site_id=site.id)
    assert (info.email, info.invited_by, info.status) == ("bob@example.com", "ann@example.com",
                                                          "pending")
    assert invitations.pending(NOW, site_id=site.id) == [info]
    with pytest.raises(MetaError, match="not valid"):
        invitations.check(info.id, "wrong nonce", NOW)
    with pytest.raises(MetaError, match=r"for bob@example\.com"):
        invitations.accept(info.id, nonce, ann.id, NOW)
    assert invitations.accept(info.id, nonce, bob.id, NOW).status == "accepted"
    assert people.site_roles(bob.id) == {site.id: Role.EDITOR}
    with pytest.raises(MetaError, match="already accepted"):
        invitations.accept(info.id, nonce, bob.id, NOW)
    assert invitations.pending(NOW, site_id=site.id) == []


def test_expired_revoked_and_replaced_invitations_cannot_be_accepted(meta: Metadata) -> None:  # noqa: F811
    invitations = Invitations(meta.engine)
    team = People(meta.engine).create_team("Acme")
    bob = meta.create_user("bob@example.com", "long enough 2")
    old, old_nonce = invitations.create("bob@example.com", "viewer", invited_by=None, now=NOW,
                                        ttl=WEEK, team_id=team.id)
    new, new_nonce = invitations.create("bob@example.com", "admin", invited_by=None, now=NOW,
                                        ttl=WEEK, team_id=team.id)
    with pytest.raises(MetaError, match="withdrawn"):
        invitations.accept(old.id, old_nonce, bob.id, NOW)
    with pytest.raises(MetaError, match="expired"):
        invitations.accept(new.id, new_nonce, bob.id, NOW + WEEK)
    invitations.revoke(new.id, NOW, team_id=team.id)
    with pytest.raises(MetaError, match="no pending invitation"):
        invitations.revoke(new.id, NOW, team_id=team.id)
    with pytest.raises(MetaError, match="withdrawn"):
        invitations.check(new.id, new_nonce, NOW)


def test_bad_invitations_are_refused_naming_the_field(meta: Metadata) -> None:  # noqa: F811
    invitations = Invitations(meta.engine)
    site = meta.create_site("a.example")
    for email in ("nobody", "a@b", "a b@example.com", "x@" + "e" * 400 + ".com"):
        with pytest.raises(MetaError, match=r"^email: "):
            invitations.create(email, "viewer", invited_by=None, now=NOW, ttl=WEEK,
                               site_id=site.id)
    with pytest.raises(MetaError, match="role must be one of"):
        invitations.create("a@example.com", "root", invited_by=None, now=NOW, ttl=WEEK,
                           site_id=site.id)
    with pytest.raises(MetaError, match="no site"):
        invitations.create("a@example.com", "viewer", invited_by=None, now=NOW, ttl=WEEK,
                           site_id=999)
    for i in range(MAX_PENDING):
        invitations.create(f"p{i}@example.com", "viewer", invited_by=None, now=NOW, ttl=WEEK,
                           site_id=site.id)
    with pytest.raises(MetaError, match=f"at most {MAX_PENDING}"):
        invitations.create("one@example.com", "viewer", invited_by=None, now=NOW, ttl=WEEK,
                           site_id=site.id)


def test_a_higher_role_already_held_is_kept(meta: Metadata) -> None:  # noqa: F811
    invitations, people = Invitations(meta.engine), People(meta.engine)
    ann = meta.create_user("ann@example.com", "long enough 1")
    team = people.create_team("Acme", ann.id)
    info, nonce = invitations.create("ann@example.com", "viewer", invited_by=None, now=NOW,
                                     ttl=WEEK, team_id=team.id)
    invitations.accept(info.id, nonce, ann.id, NOW)
    assert people.team_role(ann.id, team.id) == Role.OWNER


def test_accepting_a_sites_ownership_moves_it_to_the_new_owners_team(meta: Metadata) -> None:  # noqa: F811
    moved: list[int] = []
    invitations, people = Invitations(meta.engine, lambda: moved.append(1)), People(meta.engine)
    ann = meta.create_user("ann@example.com", "long enough 1")
    bob = meta.create_user("bob@example.com", "long enough 2")
    old_team = people.create_team("Ann's", ann.id)
    site = meta.create_site("a.example", team_id=old_team.id)
    info, nonce = invitations.create("bob@example.com", "owner", invited_by=ann.id, now=NOW,
                                     ttl=WEEK, site_id=site.id)
    invitations.accept(info.id, nonce, bob.id, NOW)
    assert moved == [1]
    [(team, role)] = people.teams_of(bob.id)
    assert (team.name, role) == ("bob@example.com's team", Role.OWNER)
    assert people.site_roles(bob.id) == {site.id: Role.OWNER}
    assert people.site_roles(ann.id) == {site.id: Role.ADMIN}  # a guest admin now
