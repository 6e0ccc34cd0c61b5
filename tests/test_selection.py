"""Ad selection: every eligibility rule, scoring, pacing, frequency caps, age gating, mood rules,
determinism. Pure functions on hand-made ads and viewers."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from signage.ads.selection import (
    AdState,
    Daypart,
    Rules,
    Viewer,
    audience_mood,
    decide,
    eligibility,
    expected_targeted,
    match_probability,
    pacing_factor,
    possible_minor,
)
from signage.vision.agegate import AgeSample

NOW = datetime(2026, 11, 18, 14, 30)  # a Wednesday afternoon


def adult(sid="a1", mood="happy", age=35.0, gender="female", group="20-39", counts=None, p=0.9):
    moods = {m: (1 - p) / 6 for m in ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")}
    moods[mood] = p
    ages = {g: 0.0 for g in ("child", "teen", "20-39", "40-59", "60+")}
    ages[group] = 1.0
    genders = {"female": 0.0, "male": 0.0}
    genders[gender] = 1.0
    return Viewer(sid, moods, ages, genders, age=age, age_label=group, ad_counts=counts or {}, age_samples=frames(age))


def frames(*ages, face_px=90.0, yaw=0.0, pitch=0.0, n=3):
    """The age gate's evidence: n classified frames per age given."""
    return tuple(AgeSample(age=a, face_px=face_px, yaw=yaw, pitch=pitch) for a in ages for _ in range(n))


def child(sid="c1", mood="happy"):
    v = adult(sid, mood, age=8.0, group="child")
    return v


def ad(slug, **kw):
    base = dict(title=slug, cpm=10.0, budget=100.0, start_date=date(2026, 1, 1), end_date=date(2027, 12, 31))
    base.update(kw)
    return AdState(slug, **base)


RULES = Rules(pacing=False)


# --- dayparts -------------------------------------------------------------------------------------


def test_daypart_plain_window():
    dp = Daypart(frozenset({2}), 14 * 60, 15 * 60)  # Wednesdays 14:00-15:00
    assert dp.contains(NOW)
    assert not dp.contains(datetime(2026, 11, 18, 15, 0))
    assert not dp.contains(datetime(2026, 11, 19, 14, 30))  # Thursday


def test_daypart_overnight_window_belongs_to_its_start_day():
    dp = Daypart(frozenset({0}), 22 * 60, 2 * 60)  # Monday 22:00 -> Tuesday 02:00
    assert dp.contains(datetime(2026, 11, 16, 23, 0))  # Monday night
    assert dp.contains(datetime(2026, 11, 17, 1, 30))  # early Tuesday
    assert not dp.contains(datetime(2026, 11, 17, 23, 0))  # Tuesday night
    assert not dp.contains(datetime(2026, 11, 16, 1, 0))  # early Monday (Sunday not listed)
    assert not dp.contains(datetime(2026, 11, 17, 2, 0))


# --- eligibility: every rule ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "kw, reason",
    [
        (dict(status="paused"), "status paused"),
        (dict(problem="duration: missing"), "invalid ad.toml"),
        (dict(start_date=date(2026, 12, 1)), "flight starts 2026-12-01"),
        (dict(end_date=date(2026, 11, 17)), "flight ended 2026-11-17"),
        (dict(dayparts=(Daypart(frozenset({2}), 6 * 60, 10 * 60),)), "outside its dayparts"),
        (dict(spent=100.0), "budget spent"),
        (dict(freq_cap=2), "frequency cap 2 reached"),
    ],
)
def test_each_eligibility_rule(kw, reason):
    v = adult(counts={"x": 2})
    reasons = eligibility(ad("x", **kw), [v], NOW, RULES, minors=[])
    assert len(reasons) == 1 and reason in reasons[0]
    d = decide([ad("x", **kw)], [v], NOW, RULES)
    assert d.action == "healing" and reason in d.excluded[0]["reasons"][0]


def test_eligible_ad_has_no_reasons_and_flight_days_are_inclusive():
    a = ad(
        "x",
        start_date=date(2026, 11, 18),
        end_date=date(2026, 11, 18),
        dayparts=(Daypart(frozenset({2}), 14 * 60, 15 * 60),),
        spent=99.99,
        freq_cap=3,
    )
    assert eligibility(a, [adult(counts={"x": 2})], NOW, RULES, minors=[]) == []


def test_media_failure_skip_is_a_rule():
    d = decide([ad("x")], [adult()], NOW, RULES, skip={"x": "media failed to load at 14:00"})
    assert d.action == "healing" and d.excluded[0]["reasons"] == ["media failed to load at 14:00"]


def test_house_ad_without_price_never_runs_out_of_budget():
    assert eligibility(ad("house", cpm=0.0, budget=0.0), [adult()], NOW, RULES, []) == []


def test_not_the_same_ad_twice_unless_only_one():
    ads = [ad("a"), ad("b", cpm=5.0)]
    d = decide(ads, [adult()], NOW, RULES, last_slug="a")
    assert d.ad.slug == "b"
    assert {"slug": "a", "reasons": ["just played (others are eligible)"]} in d.excluded
    d = decide([ad("a")], [adult()], NOW, RULES, last_slug="a")
    assert d.ad.slug == "a"


def test_nobody_present_means_healing():
    d = decide([ad("a")], [], NOW, RULES)
    assert d.action == "healing" and d.reason == "nobody present"


# --- age gate ---------------------------------------------------------------------------------------


def test_possible_minor_is_the_age_gate_over_the_tracks_frames():
    r = Rules()
    assert possible_minor(adult(age=40), r) is None
    # no evidence yet, too few frames, or frames that do not count (small face, turned head)
    assert "0 of 3 usable frames" in possible_minor(Viewer("u", age=40.0), r)
    assert "2 of 3" in possible_minor(Viewer("u", age_samples=frames(40, n=2)), r)
    assert "0 of 3" in possible_minor(Viewer("u", age_samples=frames(40, face_px=30)), r)
    assert "0 of 3" in possible_minor(Viewer("u", age_samples=frames(40, yaw=50)), r)
    # the median must reach the minimum age: an adult inside the safety margin is refused
    assert "median estimated age 21 < 24" in possible_minor(adult(age=21), r)
    # agreement: one frame that reads as a minor keeps the gate shut
    assert "estimated age 15 < 18" in possible_minor(Viewer("u", age_samples=frames(40, 41, 15, n=1)), r)
    assert possible_minor(Viewer("u", age_samples=frames(30, 26, 19, n=1)), r) is None
    assert "< 30" in possible_minor(adult(age=28), Rules(age_gate_min_age=30))


def test_age_restricted_ad_never_with_a_possible_minor():
    beer = ad("beer", age_restricted=True, cpm=50.0)
    juice = ad("juice", cpm=1.0)
    d = decide([beer, juice], [adult("a1"), child("c1")], NOW, RULES)
    assert d.ad.slug == "juice" and d.minor_possible
    out = next(e for e in d.excluded if e["slug"] == "beer")
    assert "age-restricted" in out["reasons"][0]
    # adults only: the beer wins on price
    assert decide([beer, juice], [adult("a1"), adult("a2", age=50, group="40-59")], NOW, RULES).ad.slug == "beer"
    # the gate can be switched off in config
    assert decide([beer, juice], [adult("a1"), child("c1")], NOW, Rules(age_gate=False, pacing=False)).ad.slug == "beer"


# --- targeting and scoring ---------------------------------------------------------------------------


def test_match_probability_and_expected_targeted():
    v = adult(mood="happy", p=0.7, gender="female", group="20-39")
    a = ad("x", moods=("happy",), age_groups=("20-39", "40-59"), genders=("female",))
    assert match_probability(a, v) == pytest.approx(0.7)
    assert match_probability(ad("any"), v) == 1.0  # empty targeting = anyone
    assert match_probability(ad("m", genders=("male",)), v) == 0.0
    assert match_probability(a, adult(mood="sad", p=0.7), extra_mood="sad") == pytest.approx(0.7 + 0.05)
    # unknown attributes: spread evenly
    assert match_probability(ad("g", genders=("male",)), Viewer("u")) == pytest.approx(0.5)
    viewers = [v, adult("b", mood="sad", p=0.9, gender="male")]
    assert expected_targeted(a, viewers) == pytest.approx(0.7)
    assert expected_targeted(ad("any"), viewers) == 2.0


def test_score_is_expected_targeted_times_cpm():
    happy_adults = [adult("a", mood="happy"), adult("b", mood="happy", age=45, group="40-59", gender="male")]
    targeted = ad("happy-adults", moods=("happy",), age_groups=("20-39", "40-59"), cpm=12.0)
    untargeted = ad("anyone", cpm=8.0)
    kids = ad("kids", age_groups=("child", "teen"), cpm=30.0)
    d = decide([targeted, untargeted, kids], happy_adults, NOW, RULES)
    assert d.ad.slug == "happy-adults"
    scores = {c["slug"]: c["score"] for c in d.candidates}
    assert scores["happy-adults"] == pytest.approx(2 * 0.9 * 12.0)
    assert scores["anyone"] == pytest.approx(2 * 8.0)
    # the children's ad fits nobody present: out, with the reason
    out = next(e for e in d.excluded if e["slug"] == "kids")
    assert "fits nobody" in out["reasons"][0]
    assert [c["rank"] for c in d.candidates] == [1, 2]


def test_priority_scales_the_score():
    d = decide([ad("a", priority=0), ad("b", priority=5)], [adult()], NOW, RULES)
    assert d.ad.slug == "b"
    assert d.candidates[0]["score"] == pytest.approx(10.0 * 1.5)


# --- pacing --------------------------------------------------------------------------------------------


def test_pacing_factor_catches_up_and_yields():
    # 100-day flight, 50 days in: 500 of 1000 planned
    base = dict(budget=1000.0, start_date=date(2026, 1, 1), end_date=date(2026, 4, 10))
    now = datetime(2026, 2, 20)
    on_plan, info = pacing_factor(ad("x", spent=500.0, **base), now)
    assert on_plan == pytest.approx(1.0)
    assert info["planned_spend"] == pytest.approx(500.0)
    behind, _ = pacing_factor(ad("x", spent=100.0, impressions=1000, **base), now)
    ahead, _ = pacing_factor(ad("x", spent=900.0, **base), now)
    assert behind > 1.0 > ahead
    assert pacing_factor(ad("x", spent=0.0, **base), now)[0] == 4.0  # bounded
    assert pacing_factor(ad("x", cpm=0.0, **base), now)[0] == 1.0  # nothing to pace
    # the reference figure: (budget / flight days) / impressions so far x 1000
    _, info = pacing_factor(ad("x", spent=100.0, impressions=1000, **base), now)
    assert info["reference_pacing"] == pytest.approx((1000 / 100) / 1000 * 1000)


def test_pacing_lets_an_under_delivered_campaign_win():
    base = dict(budget=1000.0, start_date=date(2026, 11, 1), end_date=date(2026, 11, 30))
    behind = ad("behind", cpm=10.0, spent=50.0, **base)
    ahead = ad("ahead", cpm=11.0, spent=900.0, **base)
    assert decide([behind, ahead], [adult()], NOW, RULES).ad.slug == "ahead"  # no pacing: price wins
    d = decide([behind, ahead], [adult()], NOW, Rules(pacing=True))
    assert d.ad.slug == "behind"
    assert d.candidates[0]["pacing"] > 1 > d.candidates[1]["pacing"]


# --- frequency caps ---------------------------------------------------------------------------------------


def test_frequency_cap_applies_to_anyone_present():
    a = ad("a", freq_cap=2)
    fresh, seen = adult("s1"), adult("s2", counts={"a": 2})
    assert decide([a], [fresh], NOW, RULES).ad.slug == "a"
    d = decide([a], [fresh, seen], NOW, RULES)
    assert d.action == "healing" and "1 present session" in d.excluded[0]["reasons"][0]
    assert decide([ad("a", freq_cap=3)], [fresh, seen], NOW, RULES).ad.slug == "a"
    assert decide([ad("a", freq_cap=0)], [adult(counts={"a": 99})], NOW, RULES).ad.slug == "a"


# --- mood rules --------------------------------------------------------------------------------------------


def test_audience_mood_is_highest_mean_probability():
    assert audience_mood([adult(mood="happy", p=0.6), adult(mood="sad", p=0.9), adult(mood="sad", p=0.5)]) == "sad"
    assert audience_mood([Viewer("x")]) is None


def test_angry_audience_gets_healing():
    d = decide([ad("a")], [adult(mood="angry")], NOW, RULES)
    assert d.action == "healing" and d.mood == "angry" and d.mood_rule == "healing"
    assert "mood rule" in d.excluded[0]["reasons"][0]


def test_sad_audience_gets_only_uplifting_ads():
    cocoa = ad("cocoa", moods=("neutral",), uplifting=True, cpm=5.0)
    smoothie = ad("smoothie", moods=("happy",), cpm=6.0)
    insurance = ad("insurance", cpm=50.0)
    sad, happy = adult("s1", mood="sad"), adult("h1", mood="happy", p=0.6)
    d = decide([cocoa, smoothie, insurance], [sad, adult("s2", mood="sad"), happy], NOW, RULES)
    assert d.mood == "sad" and d.mood_rule == "uplifting"
    assert {c["slug"] for c in d.candidates} == {"cocoa", "smoothie"}
    assert "uplifting ads only" in next(e for e in d.excluded if e["slug"] == "insurance")["reasons"][0]
    scores = {c["slug"]: c for c in d.candidates}
    # the uplifting ad counts the audience's mood as its own; the happy ad fits the happy person
    assert scores["cocoa"]["expected_targeted"] == pytest.approx((0.9 + 0.1 / 6) * 2 + (0.4 / 6) * 2, abs=1e-3)
    assert scores["smoothie"]["expected_targeted"] == pytest.approx(0.1 / 6 * 2 + 0.6, abs=1e-3)
    assert d.ad.slug == "cocoa"
    # a sad person alone: the happy-targeted ad fits nobody
    d = decide([cocoa, smoothie], [sad], NOW, RULES)
    assert d.ad.slug == "cocoa"
    assert "fits nobody" in next(e for e in d.excluded if e["slug"] == "smoothie")["reasons"][0]
    # no uplifting ad eligible: healing
    d = decide([insurance], [adult(mood="sad")], NOW, RULES)
    assert d.action == "healing" and "no eligible uplifting ad" in d.reason


def test_mood_rules_are_configurable():
    rules = Rules(pacing=False, mood_rules={"sad": "ads"})
    assert decide([ad("insurance")], [adult(mood="sad")], NOW, rules).ad.slug == "insurance"
    rules = Rules(pacing=False, mood_rules={"happy": "healing"})
    assert decide([ad("x")], [adult(mood="happy")], NOW, rules).action == "healing"


# --- determinism and explanation -----------------------------------------------------------------------------


def test_decisions_are_deterministic_for_state_and_seed():
    ads = [ad(f"ad{i}") for i in range(6)]  # all tie
    viewers = [adult()]
    first = [decide(ads, viewers, NOW, RULES, seed=7, key=str(k)).ad.slug for k in range(20)]
    again = [decide(ads, viewers, NOW, RULES, seed=7, key=str(k)).ad.slug for k in range(20)]
    other = [decide(ads, viewers, NOW, RULES, seed=8, key=str(k)).ad.slug for k in range(20)]
    assert first == again
    assert first != other
    assert len(set(first)) > 1  # ties rotate across decisions


def test_decision_explains_itself():
    d = decide([ad("a", moods=("happy",)), ad("b", status="paused")], [adult()], NOW, RULES, at=123.0)
    out = d.to_dict()
    assert out["action"] == "ad" and out["ad"] == "a" and out["at"] == 123.0
    assert out["candidates"][0]["expected_targeted"] == pytest.approx(0.9)
    assert out["excluded"] == [{"slug": "b", "reasons": ["status paused"]}]
    assert "expected targeted impressions" in out["reason"]


# --- the shipped demo inventory: targeting at work ---------------------------------------------------


def test_demo_inventory_targets_the_people_present():
    from pathlib import Path

    from signage.ads.inventory import scan, spec_to_state

    specs, bad = scan(Path(__file__).resolve().parent.parent / "assets" / "ads")
    assert not bad
    ads = [spec_to_state(s) for s in specs]
    evening = datetime(2026, 11, 20, 18, 30)  # a Friday evening
    rules = Rules()  # the defaults: age gate, mood rules, pacing (all campaigns equally behind)

    def pick(viewers, when=evening):
        return decide(ads, viewers, when, rules).ad.slug

    happy_adults = [adult("a", mood="happy", age=31), adult("b", mood="happy", age=36, gender="male")]
    assert pick(happy_adults) == "hopfield-ipa"  # happy adults, evening: the craft beer
    with_child = happy_adults + [child("c")]
    assert pick(with_child) != "hopfield-ipa"  # never with a possible minor
    assert pick([child("c1"), child("c2")]) == "pixel-planet-arcade"
    assert pick([adult("s", mood="sad", age=44, group="40-59")]) in ("hug-in-a-mug", "calm-breath-yoga")
    assert decide(ads, [adult("x", mood="angry")], evening, rules).action == "healing"
    assert pick([adult("o", mood="neutral", age=70, group="60+")]) == "silver-river-cruises"
    assert pick([adult("w", mood="neutral", age=30, gender="female")]) == "bloom-skincare"
    assert pick([adult("m", mood="neutral", age=30, gender="male")]) == "ridgeline-outfitters"
