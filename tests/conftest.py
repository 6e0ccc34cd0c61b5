"""Shared test fixtures.  Keep this file small: fixtures used by one test file live there.

* ``photo_cache`` -- session-wide cache folder for registry downloads (the real face photos):
  ``$SIGNAGE_TEST_CACHE`` if set, else ``~/.cache/signage-test``, so later runs download nothing.
* ``photos`` -- ``photos("astronaut")`` gives the path of a real photo by its name in
  :data:`signage.demo_photos.ALL_PHOTOS` (downloaded and sha256-checked on first use);
  ``photos("sample1", "t1")`` gives a list.  The files live in the cache: read them, never write
  them, and never copy them into the repository.
* ``free_port`` -- a free TCP port on 127.0.0.1.
* ``tmp_data_dir`` -- an empty folder to use as ``storage.data_dir``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from signage.demo_photos import DemoPhotosError, ensure_demo_photos

# the `pg` fixture (a real PostgreSQL in a temporary folder) for the fleet tests
pytest_plugins = ("pgserver",)


@pytest.fixture(scope="session")
def photo_cache() -> Path:
    path = Path(os.environ.get("SIGNAGE_TEST_CACHE") or Path.home() / ".cache" / "signage-test")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def photos(photo_cache: Path) -> Callable[..., Path | list[Path]]:
    """Factory: ``photos(name)`` -> Path; ``photos(name1, name2, ...)`` -> list of Paths."""

    def get(*names: str) -> Path | list[Path]:
        if not names:
            raise TypeError("photos() needs at least one photo name")
        try:
            paths = ensure_demo_photos(photo_cache, list(names))
        except DemoPhotosError as exc:
            pytest.fail(f"real test photos unavailable: {exc}", pytrace=False)
        return paths[0] if len(names) == 1 else paths

    return get


@pytest.fixture
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def tmp_data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.hookimpl(trylast=True)  # after any reordering (e.g. -p random_order): keeps that order
def pytest_collection_modifyitems(config, items):
    """Browser tests go last and carry the `browser` mark (`-m "not browser"` skips them).

    Playwright's sync API runs an event loop in the main thread while its browser is open;
    the asyncio tests must not run inside it, so they all run first (in whatever order they
    were collected or shuffled in)."""
    browser, other = [], []
    for item in items:
        if "/tests/browser/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.browser)
            browser.append(item)
        else:
            other.append(item)
    items[:] = other + browser


#: A real picture with nobody in it (one of our healing scenes): what the camera sees when
#: nobody is there. (dlib's dogs.jpg is not: the fp32 detector takes a dog's face for a face.)
NO_FACE_PHOTO = Path(__file__).resolve().parent.parent / "assets" / "healing" / "autumn-afternoon.jpg"


@pytest.fixture(scope="session")
def no_face_photo() -> Path:
    return NO_FACE_PHOTO
