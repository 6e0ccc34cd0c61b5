"""HTML creative bundles: a zip with an `index.html` and the files it uses (images, CSS, scripts,
fonts), checked and unpacked into an ad folder. Nothing in a bundle is ever run on the server:
the zip is read with `zipfile` member by member and written out as plain files; the panel's
browser shows the page under the media sandbox and its Content-Security-Policy (no origin, no
network; see signage/web/media.py).

Refused, with a message that says what to fix:
* not a zip, or a damaged one; an encrypted member; a symlink or any other special file;
* a member path that is absolute, has "..", a backslash, a drive letter, or a name the media
  server would not serve (letters, digits, ".", "_", "-", " ", starting with a letter or digit);
* a file type a creative has no use for (only the types below);
* no `index.html` at the top (a zip of one folder with `index.html` inside is accepted: the
  folder is dropped);
* more than MAX_FILES files, more than MAX_UNPACKED bytes unpacked, or a member that unpacks to
  more than MAX_RATIO times its packed size (a zip bomb).
"""

from __future__ import annotations

import re
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

__all__ = [
    "BundleError",
    "Bundle",
    "check_bundle",
    "unpack_bundle",
    "BUNDLE_TYPES",
    "MAX_FILES",
    "MAX_UNPACKED",
    "INDEX",
]

INDEX = "index.html"
BUNDLE_TYPES = frozenset(
    {
        ".html",
        ".htm",
        ".css",
        ".js",
        ".json",
        ".png",
        ".jpg",
        ".jpeg",
        ".webp",
        ".gif",
        ".svg",
        ".mp4",
        ".webm",
        ".woff",
        ".woff2",
        ".ttf",
        ".mp3",
        ".ogg",
        ".wav",
        ".txt",
    }
)
MAX_FILES = 200
MAX_UNPACKED = 60 * 1024 * 1024
MAX_RATIO = 200
MAX_DEPTH = 5  # the media server serves at most 6 path segments below /media/ads/ (slug + 5)
#: the media server's rule for one path segment (signage/web/media.py)
_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,127}$")
#: files zip tools add that no page uses: skipped, not refused
_JUNK = re.compile(r"(^|/)(__MACOSX/|\.DS_Store$|Thumbs\.db$|desktop\.ini$)")


class BundleError(ValueError):
    """A zip that is not a usable HTML creative; the message says what to fix."""


@dataclass(frozen=True)
class Bundle:
    files: tuple[tuple[str, str], ...]  # (member name in the zip, path inside the ad folder)
    unpacked_bytes: int

    @property
    def paths(self) -> list[str]:
        return [p for _, p in self.files]


def _member_path(name: str) -> str:
    if "\\" in name or "\x00" in name or name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise BundleError(f'"{name[:120]}": a file path in the zip must be relative, with "/" between folders')
    parts = [p for p in PurePosixPath(name).parts if p != "."]
    if any(p == ".." for p in parts):
        raise BundleError(f'"{name[:120]}": ".." in a path could reach outside the ad folder; refused')
    for p in parts:
        if not _SEGMENT.match(p):
            raise BundleError(
                f'"{name[:120]}": the name "{p[:60]}" is not allowed: use letters, digits, '
                f'".", "_", "-" or spaces, starting with a letter or digit'
            )
    return "/".join(parts)


def check_bundle(zip_path: Path) -> Bundle:
    """Read the zip's table of contents and check every member (nothing is unpacked)."""
    try:
        zf = zipfile.ZipFile(zip_path)
    except zipfile.BadZipFile:
        raise BundleError("the file is not a zip archive (or it is damaged)") from None
    with zf:
        infos = [i for i in zf.infolist() if not _JUNK.search(i.filename)]
        names: list[tuple[zipfile.ZipInfo, str]] = []
        total = 0
        for info in infos:
            mode = info.external_attr >> 16
            if info.is_dir():
                continue
            if info.flag_bits & 0x1:
                raise BundleError(f'"{info.filename[:120]}" is encrypted; zip the files without a password')
            if stat.S_IFMT(mode) not in (0, stat.S_IFREG):  # 0: made on a system without modes
                raise BundleError(f'"{info.filename[:120]}" is a link or special file; only plain files are allowed')
            path = _member_path(info.filename)
            if PurePosixPath(path).name.lower() == "ad.toml":
                continue  # never let a bundle replace the ad's own settings
            if PurePosixPath(path).suffix.lower() not in BUNDLE_TYPES:
                raise BundleError(
                    f'"{path[:120]}": file type "{PurePosixPath(path).suffix or "(none)"}" is not '
                    f"used by a web page; allowed: {', '.join(sorted(BUNDLE_TYPES))}"
                )
            if info.file_size > MAX_RATIO * max(info.compress_size, 1) and info.file_size > 1024 * 1024:
                raise BundleError(
                    f'"{path[:120]}" unpacks to {info.file_size // (1024 * 1024)} MB from '
                    f"{info.compress_size} bytes; refused as a zip bomb"
                )
            total += info.file_size
            names.append((info, path))
        if not names:
            raise BundleError(f"the zip is empty; it needs an {INDEX} and the files it uses")
        if len(names) > MAX_FILES:
            raise BundleError(f"the zip holds {len(names)} files; at most {MAX_FILES}")
        if total > MAX_UNPACKED:
            raise BundleError(f"the zip unpacks to {total / 1048576:.1f} MB; at most {MAX_UNPACKED // 1048576} MB")
        paths = [p for _, p in names]
        prefix = ""
        if INDEX not in paths:
            # a zip of one folder ("my-ad/index.html", "my-ad/img/..."): drop the folder
            tops = {p.split("/", 1)[0] for p in paths}
            if len(tops) == 1 and all("/" in p for p in paths) and f"{next(iter(tops))}/{INDEX}" in paths:
                prefix = next(iter(tops)) + "/"
            else:
                raise BundleError(
                    f"there is no {INDEX} at the top of the zip: the page the screen opens must be "
                    f"called {INDEX} (found: {', '.join(sorted(paths)[:5])}"
                    f"{', …' if len(paths) > 5 else ''})"
                )
        files = []
        for info, path in names:
            inside = path[len(prefix) :]
            if inside.count("/") > MAX_DEPTH - 1:
                raise BundleError(f'"{path[:120]}" is nested too deep (at most {MAX_DEPTH} folders)')
            files.append((info.filename, inside))
        return Bundle(tuple(files), total)


def unpack_bundle(zip_path: Path, bundle: Bundle, target: Path) -> None:
    """Write the checked members as plain files below `target` (streamed; sizes enforced again,
    as a zip's table of contents can lie about them)."""
    target = Path(target)
    root = target.resolve()
    written = 0
    with zipfile.ZipFile(zip_path) as zf:
        for member, inside in bundle.files:
            out = target / inside
            if not out.resolve().is_relative_to(root):  # belt and braces: _member_path forbids this
                raise BundleError(f'"{inside}" would land outside the ad folder; refused')
            out.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(member) as src, open(out, "wb") as dst:
                while chunk := src.read(1 << 20):
                    written += len(chunk)
                    if written > MAX_UNPACKED:
                        raise BundleError(f"the zip unpacks to more than {MAX_UNPACKED // 1048576} MB; refused")
                    dst.write(chunk)
