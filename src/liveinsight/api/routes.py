"""Every router the app serves, in one table (a new feature adds its router here)."""

from __future__ import annotations

from fastapi import APIRouter

from liveinsight.api import (
    alerting_pages,
    alerts,
    analytics_admin,
    assets,
    audit,
    backups,
    behaviour,
    behaviour_pages,
    cache_admin,
    collect,
    dashboard,
    db_admin,
    docs,
    export,
    funnel_forms,
    goals,
    invitations,
    logs,
    logs_pages,
    members,
    monitoring,
    ops,
    people,
    performance,
    realtime,
    reports,
    segments,
    shared_links,
    sharing,
    stats,
    tracker,
    two_factor,
)

ROUTERS: tuple[APIRouter, ...] = (ops.router, collect.router, tracker.router, stats.router,
                                  realtime.router, goals.router, members.router,
                                  dashboard.router, people.router, invitations.router,
                                  docs.router, alerts.router, reports.router,
                                  alerting_pages.router, cache_admin.router, db_admin.router,
                                  backups.router,
                                  assets.router, behaviour.router,
                                  funnel_forms.router, monitoring.router,
                                  analytics_admin.router, behaviour_pages.router,
                                  export.router, logs.router, logs_pages.router,
                                  performance.router,
                                  audit.router, audit.pages, two_factor.router,
                                  sharing.router, shared_links.router, segments.router)
