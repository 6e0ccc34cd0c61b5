"""Where the panel's QR codes point (`web.qr_mode`), the campaign URL and the operator's warning."""

from __future__ import annotations

import pytest

from signage.config import ConfigError, config_from_dict
from signage.web.qr import campaign_url, is_private_url, qr_plan, resolve_mode


def test_auto_mode_is_public_with_a_public_address_else_landing():
    assert resolve_mode("auto", "https://screen.example.com") == "public"
    assert resolve_mode("auto", "") == "landing"
    assert resolve_mode("lan", "https://screen.example.com") == "lan"


@pytest.mark.parametrize(
    "url, private",
    [
        ("http://192.168.1.20:8080", True),
        ("http://10.0.0.5", True),
        ("http://127.0.0.1:9", True),
        ("http://[::1]:8080", True),
        ("http://169.254.3.3", True),
        ("http://localhost:8080", True),
        ("http://kiosk.local", True),
        ("http://kiosk", True),
        ("https://screen-12.example.com", False),
        ("https://203.0.113.0.nip.io", False),
        ("https://8.8.8.8", False),
    ],
)
def test_private_addresses_are_recognised_without_dns(url, private):
    assert is_private_url(url) is private


def test_campaign_url_keeps_the_advertisers_parameters_and_sets_ours():
    url = campaign_url("https://shop.example/trail?ref=x&utm_source=old#top", "ridgeline", "T0k")
    assert url == (
        "https://shop.example/trail?ref=x&utm_source=signage&utm_medium=dooh&utm_campaign=ridgeline&utm_content=T0k#top"
    )
    assert campaign_url("https://shop.example", "a", "b").startswith("https://shop.example/?utm_source=")


def test_plans_and_their_warning():
    lan = qr_plan("lan", "", "http://192.168.1.20:8080")
    assert lan.ad_url("cafe", "tok") == "http://192.168.1.20:8080/m/tok"
    assert "phones on mobile data cannot open it" in lan.warning() and "web.public_url" in lan.warning()
    landing = qr_plan("auto", "", "http://192.168.1.20:8080")
    assert landing.mode == "landing" and landing.ad_url("cafe", "tok", "") == ""
    assert landing.ad_url("cafe", "tok", "https://cafe.example").startswith("https://cafe.example/?utm_")
    assert "privacy QR code" in landing.warning()  # the privacy page is still on the LAN
    public = qr_plan("auto", "https://screen-12.example.com/", "http://192.168.1.20:8080")
    assert public.mode == "public" and public.warning() == ""
    assert public.ad_url("cafe", "tok") == "https://screen-12.example.com/m/tok"
    assert public.status()["privacy_url"] == "https://screen-12.example.com/privacy"


def test_config_refuses_public_mode_without_an_address_and_a_bad_address():
    with pytest.raises(ConfigError, match="web.qr_mode"):
        config_from_dict({"web": {"qr_mode": "public"}})
    with pytest.raises(ConfigError, match="web.public_url"):
        config_from_dict({"web": {"public_url": "screen.example.com"}})
