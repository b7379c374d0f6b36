"""The hand-built event set the behaviour tests know the answers of (site 1, UTC; site 2,
Europe/Berlin). Steps used by the funnel tests: ``/``, ``/pricing``, ``Signup``.

- V1 (Google, DE): / 11-10 10:00, /pricing 10:01, Signup {plan: pro} 10:03.
- V2 (Google): / 11-10 11:00, /blog 11:01, /pricing 11:05.
- V3 (direct): /pricing 11-10 12:00, / 12:10 (the steps in the wrong order).
- V4 (direct): / 11-10 09:00; a second visit /pricing 11-12 09:00 (two days later).
- V5 (Twitter): / 11-10 13:00, / 13:02 (step 1 twice), /pricing 13:05, Signup {plan: free}
  13:06.
- V6 (Twitter): Signup 11-10 14:00 only.
- V7 (Twitter): a visit across midnight: / 11-10 23:50, /pricing 11-11 00:10.
- V8 (Google): / 11-08 10:00, /pricing 10:02 (the period before).
- Site 2 (Europe/Berlin), V20: / 2026-10-25 00:30 UTC (02:30 CEST), /pricing 01:30 UTC
  (02:30 CET: the same wall-clock time, one hour later).
"""

from __future__ import annotations

from typing import Any

from tests.query.rows import visit

_G = dict(referrer_source="Google", channel="Organic Search", country_code="US")
_D = dict(referrer_source="", channel="Direct", country_code="US")
_T = dict(referrer_source="Twitter", channel="Organic Social", country_code="US")


def events() -> list[Any]:
    return [
        visit(1, 1, [("2026-11-10T10:00:00", "pageview", "/"),
                     ("2026-11-10T10:01:00", "pageview", "/pricing"),
                     ("2026-11-10T10:03:00", "Signup", "/pricing", {"props": {"plan": "pro"}})],
              **{**_G, "country_code": "DE"}),
        visit(1, 2, [("2026-11-10T11:00:00", "pageview", "/"),
                     ("2026-11-10T11:01:00", "pageview", "/blog"),
                     ("2026-11-10T11:05:00", "pageview", "/pricing")], **_G),
        visit(1, 3, [("2026-11-10T12:00:00", "pageview", "/pricing"),
                     ("2026-11-10T12:10:00", "pageview", "/")], **_D),
        visit(1, 4, [("2026-11-10T09:00:00", "pageview", "/")], **_D),
        visit(1, 4, [("2026-11-12T09:00:00", "pageview", "/pricing")], **_D),
        visit(1, 5, [("2026-11-10T13:00:00", "pageview", "/"),
                     ("2026-11-10T13:02:00", "pageview", "/"),
                     ("2026-11-10T13:05:00", "pageview", "/pricing"),
                     ("2026-11-10T13:06:00", "Signup", "/pricing",
                      {"props": {"plan": "free"}})], **_T),
        visit(1, 6, [("2026-11-10T14:00:00", "Signup", "/")], **_T),
        visit(1, 7, [("2026-11-10T23:50:00", "pageview", "/"),
                     ("2026-11-11T00:10:00", "pageview", "/pricing")], **_T),
        visit(1, 8, [("2026-11-08T10:00:00", "pageview", "/"),
                     ("2026-11-08T10:02:00", "pageview", "/pricing")], **_G),
        visit(2, 20, [("2026-10-25T00:30:00", "pageview", "/"),
                      ("2026-10-25T01:30:00", "pageview", "/pricing")]),
    ]


def repeats() -> list[Any]:
    """Site 3: V30 reaches step 2 twice before step 3: / 10:00, /pricing 10:01, /pricing
    10:02, Signup 10:04."""
    return [visit(3, 30, [("2026-11-10T10:00:00", "pageview", "/"),
                          ("2026-11-10T10:01:00", "pageview", "/pricing"),
                          ("2026-11-10T10:02:00", "pageview", "/pricing"),
                          ("2026-11-10T10:04:00", "Signup", "/pricing")])]


def journeys() -> list[Any]:
    """Site 4, five visits on 2026-11-10 (a minute between pageviews):
    S1 / → /pricing → /signup → /thanks; S2 / → /blog → / → /pricing (a loop);
    S3 / → / (a reload) → /pricing → /signup; S4 /blog → /pricing; S5 /pricing (a bounce)."""
    paths = [["/", "/pricing", "/signup", "/thanks"], ["/", "/blog", "/", "/pricing"],
             ["/", "/", "/pricing", "/signup"], ["/blog", "/pricing"], ["/pricing"]]
    return [visit(4, 40 + n, [(f"2026-11-10T1{n}:0{i}:00", "pageview", page)
                              for i, page in enumerate(path)])
            for n, path in enumerate(paths)]


def cohorts() -> list[Any]:
    """Site 5 (visitor ids fixed, as with a longer salt rotation), noon UTC each day:
    R1 (51) 11-02, 11-10, 11-17; R2 (52) 11-03, 11-18; R3 (53) 11-04; R4 (54) 11-09, 11-11;
    R5 (55) 11-12, 11-20; R6 (56) 11-16; visitor 70 on 11-02 and visitor 71 on 11-16 both
    send user_id u1; R8 (58) 10-20 and 11-25. Weeks from Monday 11-02, 11-09, 11-16."""
    days = {51: ["11-02", "11-10", "11-17"], 52: ["11-03", "11-18"], 53: ["11-04"],
            54: ["11-09", "11-11"], 55: ["11-12", "11-20"], 56: ["11-16"],
            58: ["10-20", "11-25"]}
    out = [visit(5, who, [(f"2026-{day}T12:00:00", "pageview", "/")])
           for who, seen in days.items() for day in seen]
    for who, day in ((70, "11-02"), (71, "11-16")):
        out.append(visit(5, who, [(f"2026-{day}T12:00:00", "pageview", "/",
                                   {"props": {"user_id": "u1"}})]))
    return out
