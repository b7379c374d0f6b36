"""The password policy (``security/passwords.py``) and every place a password is set: the
CLI's ``create-user``, an invitation's acceptance, the account page's password change."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from liveinsight.cli import app
from liveinsight.meta.repo import MetaError
from liveinsight.security.passwords import PasswordPolicy, WeakPassword, common_passwords
from tests.conftest import csrf_of, login, make_client, make_site, svc_of

POLICY = PasswordPolicy(min_length=10)


@pytest.mark.parametrize(("password", "rule"), [
    ("short", "length"), ("nine char", "length"), ("x" * 1001, "length"),
    ("password12", "common"), ("PASSWORD1234", "common"), ("Dragon2024!!", "common"),
    ("qwertyuiop", "common"), ("1q2w3e4r5t", "common"),
    ("annabelle-garden-2026", "personal"), ("my ann@example.com key", "personal"),
])
def test_each_rule_refuses_and_names_itself(password: str, rule: str) -> None:
    with pytest.raises(WeakPassword) as refused:
        POLICY.check(password, "Annabelle@Example.com" if rule == "personal" and
                     "ann@" not in password else "ann@example.com")
    assert refused.value.rule == rule
    assert f"(rule: {rule})" in refused.value.message
    assert refused.value.field == "password" and refused.value.code == "weak_password"


@pytest.mark.parametrize("password", ["correct horse battery", "tide-orbit-lantern",
                                      "Ünïcödé pässwörd ok", "ann is not in here? no: an"])
def test_good_passwords_pass_without_composition_rules(password: str) -> None:
    POLICY.check(password, "bo@example.com")


def test_the_list_is_bundled_and_large() -> None:
    common = common_passwords()
    assert len(common) > 9000  # the head of zxcvbn's list, lowercase, duplicates merged
    assert {"123456", "password", "iloveyou"} <= common


def test_short_name_parts_do_not_block_words() -> None:
    POLICY.check("a journey to the east", "jo@example.com")  # "jo" is too short to count


def _cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVEINSIGHT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)


def test_the_cli_refuses_a_weak_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    _cli_env(tmp_path, monkeypatch)
    runner = CliRunner()
    common = runner.invoke(app, ["create-user", "a@example.com", "--password", "iloveyou1"])
    assert common.exit_code == 1 and "rule: common" in common.output
    monkeypatch.setenv("LIVEINSIGHT_PASSWORD_MIN_LENGTH", "16")
    short = runner.invoke(app, ["create-user", "a@example.com", "--password",
                                "tide orbit lamp"])
    assert short.exit_code == 1 and "at least 16" in short.output
    ok = runner.invoke(app, ["create-user", "a@example.com", "--password",
                             "tide orbit lantern"])
    assert ok.exit_code == 0, ok.output


def test_the_password_change_form_answers_400_naming_the_rule(tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        meta = svc_of(client).meta
        meta.create_user("ann@example.com", "tide orbit lantern", role="admin")
        assert login(client, "ann@example.com", "tide orbit lantern").status_code == 303
        token = csrf_of(client.get("/account").text)
        for new, rule in (("letmein123", "common"), ("ann-tide-orbit", "personal"),
                          ("short", "length")):
            refused = client.post("/account/password", data={
                "csrf": token, "current": "tide orbit lantern", "new": new, "confirm": new})
            assert refused.status_code == 400, new
            assert f"(rule: {rule})" in refused.text
        assert meta.authenticate("ann@example.com", "tide orbit lantern") is not None
        with pytest.raises(MetaError, match="rule: common"):
            meta.set_password("ann@example.com", "football99")


def test_accepting_an_invitation_applies_the_policy(tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        svc = svc_of(client)
        owner = svc.meta.create_user("owner@example.com", "tide orbit lantern")
        team = svc.people.create_team("Acme", owner.id)
        site = make_site(client, "a.example", team_id=team.id)
        login(client, "owner@example.com", "tide orbit lantern")
        page = client.get(f"/sites/{site.id}/settings")
        sent = client.post(f"/sites/{site.id}/invitations", data={
            "csrf": csrf_of(page.text), "email": "newbie@example.com", "role": "viewer"})
        found = re.search(r"<code data-invite-link>([^<]+)</code>", sent.text)
        assert found
        link = found.group(1).replace("http://testserver", "")
        client.cookies.clear()
        token = csrf_of(client.get(link).text)
        weak = client.post(link, data={"csrf": token, "password": "newbie-orbit-77",
                                       "confirm": "newbie-orbit-77"})
        assert weak.status_code == 400 and "(rule: personal)" in weak.text
        assert svc.meta.user_by_email("newbie@example.com") is None
        ok = client.post(link, data={"csrf": token, "password": "tide orbit lantern",
                                     "confirm": "tide orbit lantern"}, follow_redirects=False)
        assert ok.status_code == 303
