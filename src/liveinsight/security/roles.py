"""Per-site roles: who may do what on a site (values in, values out).

A person's role on a site comes from two places: their role in the team that owns the site
(a team member holds it on every site of the team) and a role given on that site alone (a
guest). The higher one counts. The instance administrator (the global ``admin`` user role,
which the ``/admin/...`` routes check) holds the owner's rights on every site.

What each role may do, each including the ones below it:

- ``viewer``: read the site's stats and see its settings;
- ``editor``: manage goals, segments and funnels;
- ``admin``: change the site's settings, sharing and people, reset its stats;
- ``owner``: delete the site, transfer it to another team.
"""

from __future__ import annotations

from enum import IntEnum


class Role(IntEnum):
    VIEWER = 1
    EDITOR = 2
    ADMIN = 3
    OWNER = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    def __str__(self) -> str:
        return self.label


ROLES = tuple(r.label for r in Role)  # viewer, editor, admin, owner
GUEST_ROLES = ("viewer", "editor", "admin")  # a role on one site; ownership is a team's


def parse_role(text: str, allowed: tuple[str, ...] = ROLES) -> Role:
    """The role named ``text``; ValueError naming the choices otherwise."""
    name = str(text).strip().lower()
    if name not in allowed:
        raise ValueError(f"role must be one of {', '.join(allowed)}")
    return Role[name.upper()]


def effective(team_role: Role | None, guest_role: Role | None) -> Role | None:
    """A person's role on a site: the higher of their team's and their own, or None."""
    given = [r for r in (team_role, guest_role) if r is not None]
    return max(given) if given else None
