"""signage.registry: member extraction and checksum errors, with no network (pre-filled cache)."""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

from signage import registry
from signage.registry import RegistryError, Source, fetch_member, read_member, sha256_bytes

PAYLOAD = b"hello, face\n" * 10
SHA = hashlib.sha256(PAYLOAD).hexdigest()


def _put(cache: Path, source: Source, filename: str, data: bytes) -> Path:
    d = registry._package_dir(source, cache)
    d.mkdir(parents=True)
    (d / filename).write_bytes(data)
    return d / filename


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for k, v in members.items():
            zf.writestr(k, v)
    return buf.getvalue()


def _tgz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for k, v in members.items():
            info = tarfile.TarInfo(k)
            info.size = len(v)
            tf.addfile(info, io.BytesIO(v))
    return buf.getvalue()


@pytest.fixture()
def no_clients(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("no registry client may run when the package is cached")

    monkeypatch.setattr(registry.subprocess, "run", boom)


def test_wheel_member(tmp_path: Path, no_clients) -> None:
    src = Source("pypi", "demo-pkg", "1.0")
    _put(tmp_path, src, "demo_pkg-1.0-py3-none-any.whl", _zip({"demo/data/x.bin": PAYLOAD}))
    out = fetch_member(src, "demo/data/x.bin", SHA, tmp_path)
    assert out.read_bytes() == PAYLOAD
    assert out == tmp_path / "members" / SHA / "x.bin"
    assert fetch_member(src, "demo/data/x.bin", SHA, tmp_path) == out  # cache hit


def test_sdist_and_npm_members(tmp_path: Path, no_clients) -> None:
    sdist = Source("pypi", "demo-sdist", "2.1", pypi_sdist=True)
    _put(tmp_path, sdist, "demo-sdist-2.1.tar.gz", _tgz({"demo-sdist-2.1/pkg/a.jpg": PAYLOAD}))
    assert read_member(sdist, "pkg/a.jpg", tmp_path, sha256=SHA) == PAYLOAD
    npm = Source("npm", "@scope/thing", "1.2.3")
    _put(tmp_path, npm, "scope-thing-1.2.3.tgz", _tgz({"package/model/m.bin": PAYLOAD}))
    assert read_member(npm, "model/m.bin", tmp_path, sha256=SHA) == PAYLOAD


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="dpkg-deb not installed")
def test_deb_member(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        "Package: demo-doc\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@example.invalid>\nDescription: d\n"
    )
    (root / "usr/share/doc/demo-doc/examples").mkdir(parents=True)
    (root / "usr/share/doc/demo-doc/examples/p.jpg").write_bytes(PAYLOAD)
    deb = tmp_path / "demo-doc_1.0_all.deb"
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(root), str(deb)], check=True, capture_output=True)
    cache = tmp_path / "cache"
    src = Source("deb", "demo-doc", "1.0")
    _put(cache, src, deb.name, deb.read_bytes())
    assert fetch_member(src, "usr/share/doc/demo-doc/examples/p.jpg", SHA, cache).read_bytes() == PAYLOAD


def test_member_sha_mismatch_names_everything(tmp_path: Path, no_clients) -> None:
    src = Source("pypi", "demo-pkg", "1.0")
    _put(tmp_path, src, "demo_pkg-1.0-py3-none-any.whl", _zip({"demo/x.bin": PAYLOAD}))
    with pytest.raises(RegistryError) as exc:
        fetch_member(src, "demo/x.bin", "0" * 64, tmp_path)
    msg = str(exc.value)
    assert "demo-pkg" in msg and "1.0" in msg and "demo/x.bin" in msg and "0" * 64 in msg and SHA in msg
    assert not (tmp_path / "members" / ("0" * 64)).exists()


def test_missing_member_and_package_sha(tmp_path: Path, no_clients) -> None:
    src = Source("pypi", "demo-pkg", "1.0", filename_sha256="f" * 64)
    path = _put(tmp_path, src, "demo_pkg-1.0-py3-none-any.whl", _zip({"demo/x.bin": PAYLOAD}))
    with pytest.raises(RegistryError, match="package file .* sha256 mismatch"):
        fetch_member(src, "demo/x.bin", SHA, tmp_path)
    ok = Source("pypi", "demo-pkg", "1.0", filename_sha256=sha256_bytes(path.read_bytes()))
    with pytest.raises(RegistryError, match="not found"):
        fetch_member(ok, "demo/nope.bin", SHA, tmp_path)


def test_corrupt_cached_member_is_replaced(tmp_path: Path, no_clients) -> None:
    src = Source("pypi", "demo-pkg", "1.0")
    _put(tmp_path, src, "demo_pkg-1.0-py3-none-any.whl", _zip({"demo/x.bin": PAYLOAD}))
    out = fetch_member(src, "demo/x.bin", SHA, tmp_path)
    out.write_bytes(b"tampered")
    assert fetch_member(src, "demo/x.bin", SHA, tmp_path).read_bytes() == PAYLOAD


def test_missing_tool_is_clear(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(registry.shutil, "which", lambda name: None)
    with pytest.raises(RegistryError, match="'npm' is not installed"):
        fetch_member(Source("npm", "x", "1.0.0"), "a", "0" * 64, tmp_path)
    with pytest.raises(RegistryError, match="'apt-get' is not installed"):
        fetch_member(Source("deb", "x", None), "a", "0" * 64, tmp_path)


def test_bad_sources() -> None:
    with pytest.raises(RegistryError):
        Source("conda", "x", "1")  # type: ignore[arg-type]
    with pytest.raises(RegistryError, match="exact version"):
        Source("pypi", "x", None)
    with pytest.raises(RegistryError, match="64-hex"):
        fetch_member(Source("pypi", "x", "1"), "a", "abc", Path("/nonexistent"))


def test_failed_download_reports_output(tmp_path: Path, monkeypatch) -> None:
    class P:
        returncode = 1
        stdout = "ERROR: No matching distribution found for nosuchpkg==9.9"

    monkeypatch.setattr(registry.subprocess, "run", lambda *a, **k: P())
    with pytest.raises(RegistryError, match=r"(?s)pypi:nosuchpkg==9\.9: .*failed \(exit 1\).*No matching"):
        fetch_member(Source("pypi", "nosuchpkg", "9.9"), "a", "0" * 64, tmp_path)
    assert not any((tmp_path / "packages" / "pypi").iterdir())  # no half-downloaded package left
