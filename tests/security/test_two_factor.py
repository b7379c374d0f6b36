"""Two-factor sign-in (TOTP, recovery codes) through a real app: enrolment on the account
page, the sign-in's second step, replays and recovery codes refused a second time, turning
it off, the CLI's reset. Codes are computed with pyotp from the secret the page shows."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from liveinsight.cli import app as cli
from liveinsight.security import totp
from tests.conftest import csrf_of, login, make_client, svc_of

USER = ("ann@example.com", "tide orbit lantern")


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _enrol(c: TestClient) -> tuple[str, list[str], Any]:
    token = csrf_of(c.get("/account").text)
    setup = c.post("/account/two-factor/setup", data={"csrf": token})
    assert setup.status_code == 200
    secret = re.search(r"<code data-totp-secret>([A-Z2-7]+)</code>", setup.text)
    assert secret and "otpauth://totp/" in setup.text
    return secret.group(1), [], token


def test_enrol_sign_in_with_a_code_and_a_recovery_code(tmp_path: Path) -> None:
    clock = Clock()
    with make_client(tmp_path, clock=clock) as c:
        svc = svc_of(c)
        svc.meta.create_user(*USER)
        assert login(c, *USER).status_code == 303
        secret, _, token = _enrol(c)
        app_codes = pyotp.TOTP(secret)
        wrong = c.post("/account/two-factor/enable", data={"csrf": token, "code": "000000"})
        assert wrong.status_code == 400 and "does not match" in wrong.text
        on = c.post("/account/two-factor/enable",
                    data={"csrf": token, "code": app_codes.at(clock.now)})
        assert on.status_code == 200
        codes = re.findall(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>", on.text)
        assert len(codes) == 10
        assert "recovery code(s) left" in c.get("/account").text

        # the password alone no longer signs in
        c.cookies.clear()
        first = login(c, *USER)
        assert first.status_code == 200 and "Enter your sign-in code" in first.text
        assert "li_session" not in c.cookies
        assert c.get("/sites", follow_redirects=False).status_code == 303
        step_token = csrf_of(first.text)
        clock.now += timedelta(seconds=60)
        bad = c.post("/login/code", data={"csrf": step_token, "code": "123456"})
        assert bad.status_code == 401
        code = app_codes.at(clock.now)
        ok = c.post("/login/code", data={"csrf": step_token, "code": code, "next": "/sites"},
                    follow_redirects=False)
        assert ok.status_code == 303 and ok.headers["location"] == "/sites"
        assert c.get("/sites").status_code == 200

        # the same code again (a replay) is refused; a recovery code works once
        c.cookies.clear()
        again = login(c, *USER)
        replay = c.post("/login/code", data={"csrf": csrf_of(again.text), "code": code})
        assert replay.status_code == 401
        recovered = c.post("/login/code", data={"csrf": csrf_of(again.text),
                                                "code": codes[0].upper()},
                           follow_redirects=False)
        assert recovered.status_code == 303
        c.cookies.clear()
        third = login(c, *USER)
        assert c.post("/login/code", data={"csrf": csrf_of(third.text),
                                           "code": codes[0]}).status_code == 401

        # the audit log tells the factors apart
        svc.audit.flush()
        from liveinsight.meta.audit import AuditQuery
        events = svc.audit.store.page(AuditQuery(action="login."))
        factors = [e.entry.details.get("factor") for e in events
                   if e.entry.action == "login.ok"]
        assert factors[:2] == ["recovery", "totp"]
        assert any(e.entry.action == "login.code_failed" for e in events)


def test_without_the_first_step_there_is_no_second(tmp_path: Path) -> None:
    with make_client(tmp_path) as c:
        svc_of(c).meta.create_user(*USER)
        token = csrf_of(c.get("/login").text)
        answer = c.post("/login/code", data={"csrf": token, "code": "123456"})
        assert answer.status_code == 400 and "start again" in answer.text
        c.cookies.set("li_2fa", "forged.token", path="/login")
        assert c.post("/login/code", data={"csrf": token, "code": "1"}).status_code == 400


def test_turning_it_off_needs_the_password_and_the_cli_resets_it(
        tmp_path: Path, monkeypatch: Any) -> None:
    clock = Clock()
    with make_client(tmp_path, clock=clock) as c:
        svc = svc_of(c)
        user = svc.meta.create_user(*USER)
        login(c, *USER)
        secret, _, token = _enrol(c)
        c.post("/account/two-factor/enable",
               data={"csrf": token, "code": pyotp.TOTP(secret).at(clock.now)})
        refused = c.post("/account/two-factor/disable", data={"csrf": token,
                                                              "password": "not it"})
        assert refused.status_code == 400 and svc.two_factor.enabled(user.id)
        off = c.post("/account/two-factor/disable", data={"csrf": token,
                                                          "password": USER[1]},
                     follow_redirects=False)
        assert off.status_code == 303 and not svc.two_factor.enabled(user.id)
        _enrol(c)  # pending only: signing in is unchanged
        svc.two_factor.enable(user.id, pyotp.TOTP(
            svc.two_factor.status(user.id).pending_secret or "").at(clock.now), clock.now)
        assert svc.two_factor.enabled(user.id)
    monkeypatch.setenv("LIVEINSIGHT_DATA_DIR", str(tmp_path / "data"))
    result = CliRunner().invoke(cli, ["reset-two-factor", USER[0]])
    assert result.exit_code == 0, result.output
    with make_client(tmp_path) as c:
        assert login(c, *USER).status_code == 303


def test_codes_of_the_neighbouring_steps_pass_and_others_do_not() -> None:
    secret = totp.new_secret()
    now = datetime(2026, 12, 5, 12, 0, 10, tzinfo=UTC)
    app = pyotp.TOTP(secret)
    step = app.timecode(now)
    assert totp.accepted_step(secret, app.at(now), now, None) == step
    assert totp.accepted_step(secret, app.at(now - timedelta(seconds=30)), now, None) == step - 1
    assert totp.accepted_step(secret, app.at(now + timedelta(seconds=30)), now, None) == step + 1
    assert totp.accepted_step(secret, app.at(now - timedelta(seconds=90)), now, None) is None
    assert totp.accepted_step(secret, app.at(now), now, step) is None  # used already
    assert totp.accepted_step(secret, "12345", now, None) is None
    assert totp.recovery_hash("ABCDE-fghij") == totp.recovery_hash("abcde fghij")
