"""Admin access: hashing, login, CSRF, session expiry, logout, the no-password page, and the
`set-password` command editing a real config.toml."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from signage.app import Appliance
from signage.config import ConfigError, load_config
from signage.web.admin.auth import LoginThrottle, SessionStore, hash_password, verify_password
from signage.web.admin.cli import set_password_in_text, write_password_hash
from signage.web.admin.core import ADMIN_STATE, safe_next
from test_admin_support import PASSWORD, hidden, login, make_config, start, stop

ROOT = Path(__file__).resolve().parents[1]


# --- hashing ----------------------------------------------------------------------------------


def test_hash_is_salted_and_verifies():
    a = hash_password("s3cret-password", iterations=1000)
    b = hash_password("s3cret-password", iterations=1000)
    assert a != b and a.startswith("pbkdf2_sha256$1000$")
    assert verify_password("s3cret-password", a) and verify_password("s3cret-password", b)
    assert not verify_password("s3cret-passwore", a)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "plain",
        "pbkdf2_sha256$abc$x$y",
        "pbkdf2_sha256$10$AAAA$AAAA",
        "md5$1000$AAAA$AAAA",
        "pbkdf2_sha256$1000$!!$??",
    ],
)
def test_malformed_hashes_never_match(bad):
    assert verify_password("anything", bad) is False


def test_session_store_expiry_and_throttle():
    now = [1000.0]
    store = SessionStore(lifetime_s=60, clock=lambda: now[0])
    s = store.create()
    assert store.lookup(s.token) == (s, "")
    now[0] += 61
    assert store.lookup(s.token) == (None, "expired")
    assert store.lookup("nope") == (None, "unknown")
    assert store.lookup(None) == (None, "none")
    t = LoginThrottle(max_failures=2, window_s=10, clock=lambda: now[0])
    t.failed("a")
    t.failed("a")
    assert t.retry_after("a") > 0 and t.retry_after("b") == 0
    now[0] += 11
    assert t.retry_after("a") == 0


def test_next_is_never_an_open_redirect():
    assert safe_next("//evil.example/admin") == "/admin"
    assert safe_next("https://evil.example") == "/admin"
    assert safe_next("/admin/reports?since=2024-01-01") == "/admin/reports?since=2024-01-01"
    assert safe_next("/panel") == "/admin"


# --- the web flow -------------------------------------------------------------------------------


@pytest.fixture
async def admin(tmp_path):
    appliance = Appliance(make_config(tmp_path))
    client = await start(appliance)
    yield client, appliance
    await stop(client, appliance)


async def test_no_password_configured_says_how_and_shows_nothing_else(tmp_path):
    appliance = Appliance(make_config(tmp_path, password_hash=""))
    client = await start(appliance)
    try:
        for path in ("/admin", "/admin/login", "/admin/reports", "/admin/ads", "/api/report"):
            r = await client.get(path)
            assert r.status == 503, path
            text = await r.text()
            assert "python -m signage set-password" in text, path
            assert "Log out" not in text and "Reports</a>" not in text and "<form" not in text
        r = await client.post("/admin/login", data={"password": "x"})
        assert r.status == 503
    finally:
        await stop(client, appliance)


async def test_login_page_then_wrong_password_is_401(admin):
    client, _ = admin
    r = await client.get("/admin")
    assert r.status == 401
    assert "Please log in" in await r.text()
    r = await client.get("/admin/login")
    token = hidden(await r.text(), "csrf_token")
    r = await client.post("/admin/login", data={"csrf_token": token, "password": "wrong password!"})
    assert r.status == 401
    assert "Wrong password." in await r.text()
    r = await client.get("/admin")
    assert r.status == 401


async def test_login_without_csrf_token_is_403(admin):
    client, _ = admin
    await client.get("/admin/login")  # sets the login CSRF cookie
    r = await client.post("/admin/login", data={"password": PASSWORD})
    assert r.status == 403
    assert "security token (CSRF) is missing or wrong" in await r.text()
    r = await client.post("/admin/login", data={"password": PASSWORD, "csrf_token": "forged"})
    assert r.status == 403


async def test_login_from_another_site_is_403(admin):
    client, _ = admin
    r = await client.get("/admin/login")
    token = hidden(await r.text(), "csrf_token")
    r = await client.post(
        "/admin/login", data={"csrf_token": token, "password": PASSWORD}, headers={"Origin": "http://evil.example"}
    )
    assert r.status == 403
    assert "another site" in await r.text()


async def test_login_sets_a_strict_httponly_cookie_and_security_headers(admin):
    client, _ = admin
    r = await client.get("/admin/login")
    token = hidden(await r.text(), "csrf_token")
    r = await client.post(
        "/admin/login",
        data={"csrf_token": token, "password": PASSWORD, "next": "/admin/live.json"},
        allow_redirects=False,
    )
    assert r.status == 303 and r.headers["Location"] == "/admin/live.json"
    cookie = r.headers["Set-Cookie"]
    assert "signage_admin=" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    r = await client.get("/admin")
    assert r.status == 200
    assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
    assert r.headers["X-Frame-Options"] == "DENY" and r.headers["Cache-Control"] == "no-store"


async def test_post_without_csrf_is_403_with_token_is_accepted(admin):
    client, _ = admin
    csrf = await login(client)
    r = await client.post("/admin/logout", data={})
    assert r.status == 403
    assert "security token (CSRF) is missing or wrong" in await r.text()
    r = await client.post("/admin/logout", data={"csrf_token": "x" * 40})
    assert r.status == 403
    r = await client.get("/admin")
    assert r.status == 200  # still logged in: nothing was changed
    r = await client.post("/admin/logout", data={"csrf_token": csrf}, allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/admin/login?bye=1"
    r = await client.get("/admin")
    assert r.status == 401
    assert "session has ended" in await r.text() or "Please log in" in await r.text()


async def test_expired_session_is_401_with_a_clear_message(admin):
    client, appliance = admin
    await login(client)
    state = client.server.app[ADMIN_STATE]
    for sess in state.sessions._by_token.values():
        sess.expires_at = 0.0
    r = await client.get("/admin/reports")
    assert r.status == 401
    text = await r.text()
    assert "Your session has expired. Please log in again." in text
    assert 'name="next" value="/admin/reports"' in text
    r = await client.get("/admin/live.json")
    assert r.status == 401
    assert (await r.json())["error"] == "Your session has expired. Please log in again."


async def test_repeated_wrong_passwords_are_throttled(admin):
    client, _ = admin
    r = await client.get("/admin/login")
    token = hidden(await r.text(), "csrf_token")
    for _ in range(5):
        r = await client.post("/admin/login", data={"csrf_token": token, "password": "nope nope nope"})
        assert r.status == 401
    r = await client.post("/admin/login", data={"csrf_token": token, "password": PASSWORD})
    assert r.status == 429 and "Retry-After" in r.headers
    assert "Too many wrong passwords" in await r.text()


# --- set-password -------------------------------------------------------------------------------


def test_set_password_keeps_the_rest_of_the_file(tmp_path):
    text = (
        '# my screen\n[device]\nid = "lobby"  # keep me\n\n[admin]\n# the hash\n'
        'password_hash = ""\nsession_minutes = 30\n\n[privacy]\nretention_days = 7\n'
    )
    new = set_password_in_text(text, "pbkdf2_sha256$1000$AAAA$BBBB")
    assert new == text.replace('password_hash = ""', 'password_hash = "pbkdf2_sha256$1000$AAAA$BBBB"')
    # no [admin] table: one is appended; [admin] without the key: the key is added to it
    added = set_password_in_text('[device]\nid = "x"\n', "pbkdf2_sha256$1000$AAAA$BBBB")
    assert tomllib.loads(added) == {"device": {"id": "x"}, "admin": {"password_hash": "pbkdf2_sha256$1000$AAAA$BBBB"}}
    inserted = set_password_in_text("[admin]\nsession_minutes = 5\n[web]\nport = 1\n", "pbkdf2_sha256$1$A$B")
    assert tomllib.loads(inserted)["admin"] == {"session_minutes": 5, "password_hash": "pbkdf2_sha256$1$A$B"}
    assert tomllib.loads(inserted)["web"] == {"port": 1}


def _set_password_cmd(cfg):
    """`python -m signage set-password` once the lead lists our module in COMMAND_MODULES;
    until then the same code through its own entry point."""
    from signage.__main__ import COMMAND_MODULES

    if "signage.web.admin.cli" in COMMAND_MODULES:
        return [sys.executable, "-m", "signage", "--config", str(cfg), "set-password"]
    return [sys.executable, "-m", "signage.web.admin.cli", "--config", str(cfg), "set-password"]


def test_plain_text_password_in_the_file_is_refused_and_set_password_fixes_it(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text('[device]\nid = "a"\n\n[admin]\npassword_hash = "hunter2"\n')
    with pytest.raises(ConfigError, match="set-password"):
        load_config(cfg)
    proc = subprocess.run(
        _set_password_cmd(cfg) + ["--password-stdin", "--iterations", "1000"],
        input="a long enough password\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    assert "admin password set" in proc.stdout
    loaded = load_config(cfg)
    assert verify_password("a long enough password", loaded.admin.password_hash)
    assert loaded.device.id == "a"
    assert "hunter2" not in cfg.read_text()


def test_set_password_refuses_short_passwords_and_creates_missing_file(tmp_path):
    cfg = tmp_path / "new" / "config.toml"
    proc = subprocess.run(
        _set_password_cmd(cfg) + ["--password-stdin"], input="short\n", capture_output=True, text=True, cwd=ROOT
    )
    assert proc.returncode == 2 and "at least 10 characters" in proc.stderr
    assert not cfg.exists()
    write_password_hash(cfg, hash_password("another long password", iterations=1000))
    assert verify_password("another long password", load_config(cfg).admin.password_hash)
