"""Mobile pages on the aiohttp test client: token pages, friendly 404s, one rating per play
per device, emoticon downloads, rankings with a minimum of votes, today's charts, privacy."""

from __future__ import annotations

import asyncio
import io
import time

import pytest
from PIL import Image

from signage.reports import public as queries
from signage.vocabulary import MOODS
from signage.web.emoticon import emoticon_png, emoticon_svg
from signage.web.mobile import ad_details, hours_chart_svg, mood_chart_svg, safe_link
from test_web_panel import add_ad_play, public_site

TOKEN = "tok_abcdefghijklmnop"


@pytest.fixture
async def env(tmp_path):
    async with public_site(tmp_path) as site:
        yield site


async def test_mobile_page_shows_the_ads_details(env):
    await add_ad_play(env.store, token=TOKEN)
    r = await env.client.get(f"/m/{TOKEN}")
    assert r.status == 200
    html = await r.text()
    for text in (
        "Cafe Corner",
        "Fresh coffee and cake",
        "1 Market Square",
        'href="tel:+442079460000"',
        'href="https://cafe.example/"',
        'href="https://maps.example/cafe"',
        "CAFE10",
        f"/m/{TOKEN}/emoticon.png?download=1",
        "/privacy",
    ):
        assert text in html, text
    assert "sg_device" in r.cookies
    assert "<script" not in html  # works without JavaScript
    await env.store.flush()
    assert await env.store.scalar("SELECT COUNT(*) FROM mobile_visits") == 1


async def test_todays_short_tokens_and_older_long_ones_both_open_their_play(env):
    """Play tokens are 11 characters since the QR codes got shorter; the 22-character tokens of
    older plays (on phones, in advertisers' analytics) still open their page."""
    import secrets

    from signage.player import play_token

    new, old = play_token(), secrets.token_urlsafe(16)
    assert len(new) == 11 and len(old) == 22
    await add_ad_play(env.store, token=new)
    await add_ad_play(env.store, token=old)
    for token in (new, old):
        r = await env.client.get(f"/m/{token}")
        assert r.status == 200 and "Cafe Corner" in await r.text(), token


@pytest.mark.parametrize(
    "path",
    ["/m/unknown_token_123456", "/m/x", "/m/..%2f..%2fetc", "/m/tok_abcdefghijklmnop/emoticon.png", "/no/such/page"],
)
async def test_unknown_tokens_and_pages_get_a_friendly_404(env, path):
    r = await env.client.get(path, headers={"Accept": "text/html"})
    assert r.status == 404
    html = await r.text()
    assert "isn&rsquo;t here" in html and "Traceback" not in html


async def test_expired_token_is_404(env):
    await add_ad_play(env.store, token="expired_token_abcdef", started_at=time.time() - 8 * 86400)
    assert (await env.client.get("/m/expired_token_abcdef")).status == 404  # retention_days = 7


async def test_healing_plays_have_no_mobile_page(env):
    await env.store.execute(
        "INSERT INTO plays (kind, token, started_at) VALUES ('healing', 'healing_tok_123456', ?)", (time.time(),)
    )
    assert (await env.client.get("/m/healing_tok_123456")).status == 404


async def test_one_rating_per_play_per_device(env):
    _, play_id = await add_ad_play(env.store, token=TOKEN)
    await env.client.get(f"/m/{TOKEN}")  # gets the device cookie
    r = await env.client.post(f"/m/{TOKEN}/rate", data={"value": "like"}, allow_redirects=False)
    assert r.status == 303 and r.headers["Location"].endswith("?r=thanks#rate")
    r = await env.client.post(f"/m/{TOKEN}/rate", data={"value": "dislike"}, allow_redirects=False)
    assert r.headers["Location"].endswith("?r=already#rate")
    html = await (await env.client.get(f"/m/{TOKEN}?r=already")).text()
    assert "already rated" in html and 'data-testid="voted"' in html and 'data-testid="like"' not in html
    # another phone (another cookie jar, its own signed cookie from the page) may rate the same play
    env.client.session.cookie_jar.clear()
    await env.client.get(f"/m/{TOKEN}")
    r = await env.client.post(f"/m/{TOKEN}/rate", data={"value": "dislike"}, allow_redirects=False)
    assert r.headers["Location"].endswith("?r=thanks#rate")
    rows = await env.store.fetchall("SELECT value, source FROM ratings WHERE play_id = ? ORDER BY id", (play_id,))
    assert rows == [{"value": 1, "source": "mobile"}, {"value": -1, "source": "mobile"}]


async def test_rating_refuses_bad_values_and_other_sites(env):
    await add_ad_play(env.store, token=TOKEN)
    r = await env.client.post(f"/m/{TOKEN}/rate", data={"value": "5"}, allow_redirects=False)
    assert r.status == 400
    r = await env.client.post(
        f"/m/{TOKEN}/rate", data={"value": "like"}, allow_redirects=False, headers={"Origin": "http://evil.example"}
    )
    assert r.status == 403
    r = await env.client.post(
        f"/m/{TOKEN}/rate",
        data={"value": "like"},
        allow_redirects=False,
        headers={"Sec-Fetch-Site": "cross-site", "Origin": "null"},
    )
    assert r.status == 403
    r = await env.client.post("/m/unknown_token_123456/rate", data={"value": "like"}, allow_redirects=False)
    assert r.status == 404
    assert await env.store.scalar("SELECT COUNT(*) FROM ratings") == 0


async def test_emoticon_downloads_follow_the_plays_mood_and_mask(env):
    await add_ad_play(
        env.store, token=TOKEN, audience={"mood": "sad", "mood_mix": {"sad": 0.7, "happy": 0.3}, "mask": True}
    )
    r = await env.client.get(f"/m/{TOKEN}/emoticon.svg?download=1")
    assert r.status == 200 and r.headers["Content-Type"].startswith("image/svg+xml")
    assert 'filename="my-mood-sad-mask.svg"' in r.headers["Content-Disposition"]
    assert await r.text() == emoticon_svg("sad", True, 512)
    r = await env.client.get(f"/m/{TOKEN}/emoticon.png")
    img = Image.open(io.BytesIO(await r.read()))
    assert img.format == "PNG" and img.size == (512, 512)


def test_every_mood_draws_as_svg_and_png():
    for mood in MOODS:
        for mask in (False, True):
            assert emoticon_svg(mood, mask).startswith("<svg")
            assert Image.open(io.BytesIO(emoticon_png(mood, mask, 64))).size == (64, 64)
    assert emoticon_svg("nonsense") == emoticon_svg("neutral")


def test_play_mood_reads_the_usual_audience_records():
    # the audience record Player._close_play stores with a play
    assert queries.play_mood({"mood": "happy", "mask": False}) == ("happy", False)
    assert queries.play_mood({"mood": "angry", "mood_mix": {"angry": 0.6, "happy": 0.4}, "mask": True}) == (
        "angry",
        True,
    )
    assert queries.play_mood({"mood": None, "mask": None}) == (None, False)  # nobody counted


async def test_rankings_order_by_satisfaction_with_a_minimum_of_votes(env):
    async def votes(slug, likes, dislikes):
        _, pid = await add_ad_play(env.store, slug=slug, token=f"{slug}_token_abcdefgh")
        for i in range(likes + dislikes):
            await env.store.execute(
                "INSERT INTO ratings (play_id, value, source, device, created_at) VALUES (?, ?, 'mobile', ?, 0)",
                (pid, 1 if i < likes else -1, f"d{i}"),
            )

    await votes("loved", 18, 2)
    await votes("lucky", 3, 0)  # 100 % but few votes: ranked below 90 % of 20
    await votes("hated", 1, 5)
    await votes("new", 1, 0)  # under the minimum
    ranked, pending = await queries.rankings(env.store)
    assert [r["slug"] for r in ranked] == ["loved", "lucky", "hated"]
    assert [r["slug"] for r in pending] == ["new"]
    html = await (await env.client.get("/rankings")).text()
    assert f"at least <strong>{queries.MIN_VOTES} votes</strong>" in html
    assert html.index("Loved Corner") < html.index("Lucky Corner") < html.index("Hated Corner")
    assert "Not enough votes yet" in html


async def test_today_page_charts_moods_and_hours(env):
    now = time.time()
    for i, mood in enumerate(["happy", "happy", "sad", None]):
        await env.store.execute(
            "INSERT INTO sessions (id, started_at, ended_at, dwell_s, attention_s, mood) VALUES (?, ?, ?, 2, 1, ?)",
            (f"s{i}", now - i, now - i + 2, mood),
        )
    t = await queries.today(env.store, now)
    assert t["people"] == 4 and t["moods"]["happy"] == 2 and t["moods"]["sad"] == 1 and sum(t["hours"]) == 4
    r = await env.client.get("/today")
    html = await r.text()
    assert r.status == 200 and html.count("<svg") >= 2
    assert 'data-testid="people">4<' in html and "67%" in html


def test_charts_render_when_empty():
    assert "No one seen yet" in mood_chart_svg({m: 0 for m in MOODS})
    assert "<svg" in hours_chart_svg([0] * 24)


async def test_privacy_page_says_what_is_kept_and_for_how_long(env):
    html = await (await env.client.get("/privacy?from=" + TOKEN)).text()
    assert 'data-testid="retention">7 days<' in html
    for text in ("age group", "gender", "mood", "No images are stored", "never stored", f'href="/m/{TOKEN}"'):
        assert text in html, text
    # the age gate's rule, with the configured minimum age
    assert "at least 3 pictures" in html and "at least 24 years" in html


def test_ad_details_only_link_to_web_addresses():
    d = ad_details(
        {"website": "javascript:alert(1)", "map_url": "data:text/html,x", "phone": "call us", "coupon": "SAVE5"}
    )
    assert d["website"] == "" and d["directions"] == "" and d["tel"] == "" and d["coupon"] == "SAVE5"
    assert safe_link("https://ok.example/x") == "https://ok.example/x"


async def test_pages_are_small_and_make_no_external_requests(env):
    await add_ad_play(env.store, token=TOKEN)
    for path in (f"/m/{TOKEN}", "/rankings", "/today", "/privacy", "/static/mobile.css"):
        r = await env.client.get(path)
        body = await r.text()
        assert len(body.encode()) < 24_000, path
        for attr in ('src="http', "src='http", 'href="//', "url(http", '<link rel="stylesheet" href="http'):
            assert attr not in body, (path, attr)


async def test_a_play_being_written_by_the_flush_running_now_is_found_not_404(tmp_path):
    """Issue 10 item 9: the phone page and the panel's vote flushed only `if store.pending`,
    which is 0 while the background flusher writes: a QR scanned then got a stray 404."""
    async with public_site(tmp_path) as env:
        await add_ad_play(env.store, token="seed_token_abcdefgh")  # the ad row
        ad_id = await env.store.scalar("SELECT id FROM ads LIMIT 1")
        for i in range(3000):  # a big batch, as after a burst of sessions
            env.store.enqueue("INSERT INTO mobile_visits (play_id, created_at) VALUES (1, ?)", (float(i),))
        env.store.enqueue(
            "INSERT INTO plays (id, ad_id, kind, token, started_at) VALUES (?, ?, 'ad', ?, ?)",
            (900, ad_id, "race_token_abcdefgh", time.time()),
        )
        flushing = asyncio.create_task(env.store.flush())  # the background flusher, mid-write
        for _ in range(500):
            await asyncio.sleep(0)
            if env.store.pending == 0:
                break
        assert env.store.pending == 0 and not flushing.done()
        r = await env.client.get("/m/race_token_abcdefgh")
        assert r.status == 200
        assert await queries.ad_play_started_at(env.store, 900) is not None
        await flushing


def test_every_template_is_compiled_at_start_and_a_broken_one_fails_there(tmp_path):
    """Compiling a template took up to 20 ms on the event loop of the first request for it
    (a 27 ms loop-lag spike in scripts/soak); now pages.setup compiles them all at start."""
    import jinja2
    import pytest

    from signage.web.pages import TEMPLATES, _env, compile_templates

    env = _env()
    names = sorted(p.name for p in TEMPLATES.glob("*.html"))
    assert compile_templates(env) == len(names) >= 8
    cached = {key[1] for key in env.cache.keys()}  # jinja keys its cache by (loader, name)
    assert set(names) <= cached
    (tmp_path / "ok.html").write_text("<p>{{ x }}</p>")
    (tmp_path / "broken.html").write_text("{% if %}")
    with pytest.raises(jinja2.TemplateSyntaxError):
        compile_templates(jinja2.Environment(loader=jinja2.FileSystemLoader(str(tmp_path))))
