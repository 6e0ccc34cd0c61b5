"""Camera sources and the latest-frame camera, on real photos (and videos made from them)."""

from __future__ import annotations

import shutil
import sys
import threading
import time
import tracemalloc
import types
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from signage import camera as cam_mod
from signage.camera import Camera, CameraError, Frame, FrameSource, OpenCVSource, PhotoSource, letterbox, open_source
from signage.config import CameraConfig


def cfg(**kw) -> CameraConfig:
    base = dict(width=320, height=240, fps=20.0, photo_seconds=0.3, stall_seconds=0.5, retry_max_seconds=1.0)
    base.update(kw)
    return CameraConfig(**base)


def wait_for(pred: Callable[[], bool], timeout: float = 4.0, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


@pytest.fixture
def photo_dir(photos, tmp_path: Path) -> Path:
    """A folder of three real photos (copies in tmp), named so that sorting gives a known order."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, name in enumerate(["astronaut", "t1", "tom_hanks"]):
        src = photos(name)
        shutil.copy(src, folder / f"{i}_{name}{src.suffix}")
    (folder / "notes.txt").write_text("not a photo")
    return folder


def make_video(
    path: Path, images: list[np.ndarray], fps: float, frames_each: int, size: tuple[int, int] = (320, 240)
) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    assert writer.isOpened()
    for image in images:
        frame = letterbox(image, *size)
        for _ in range(frames_each):
            writer.write(frame)
    writer.release()
    return path


@pytest.fixture
def real_video(photos, tmp_path: Path) -> Path:
    """A 1 s, 30 fps MJPG video: three real photos, 10 frames each."""
    images = [cv2.imread(str(p)) for p in photos("astronaut", "sample1", "t1")]
    return make_video(tmp_path / "clip.avi", images, 30.0, 10)


def closest(image: np.ndarray, refs: list[np.ndarray]) -> int:
    diffs = [float(np.mean(cv2.absdiff(image, r))) for r in refs]
    best = int(np.argmin(diffs))
    assert diffs[best] < 8, diffs
    return best


# --- image helpers ------------------------------------------------------------------------------


def test_letterbox_keeps_aspect_and_never_enlarges(photos) -> None:
    big = cv2.imread(str(photos("sample1")))  # 1920 x 1280
    out = letterbox(big, 640, 480)
    assert out.shape == (480, 640, 3) and out.dtype == np.uint8
    rows = np.where(out.max(axis=(1, 2)) > 0)[0]
    assert 420 <= rows[-1] - rows[0] + 1 <= 427  # 1280 * 640/1920 = 427, black bars above/below

    tiny = cv2.imread(str(photos("tom_hanks")))  # 112 x 112
    out = letterbox(tiny, 640, 480)
    ys, xs = np.where(out.max(axis=2) > 0)
    assert ys.max() - ys.min() + 1 <= 112 and xs.max() - xs.min() + 1 <= 112
    assert np.array_equal(out[184:296, 264:376], tiny)  # centred, pixel for pixel


# --- photos source ------------------------------------------------------------------------------


def test_photos_slideshow_in_sorted_order_and_loops(photo_dir: Path, tmp_path: Path) -> None:
    c = cfg(source="photos", photos_dir=str(photo_dir), photo_seconds=0.25, fps=40)
    refs = [letterbox(cv2.imread(str(p)), 320, 240) for p in sorted(photo_dir.glob("*_*.*"))]
    src = open_source(c, tmp_path)
    try:
        assert isinstance(src, PhotoSource) and src.name == f"photos {photo_dir}"
        seen: list[int] = []
        t0 = time.monotonic()
        n = 0
        while time.monotonic() - t0 < 1.05:
            image = src.read()
            assert image.shape == (240, 320, 3) and not image.flags.writeable
            idx = closest(image, refs)
            if not seen or seen[-1] != idx:
                seen.append(idx)
            n += 1
    finally:
        src.close()
    assert seen[:4] == [0, 1, 2, 0]  # sorted by file name, then round again
    assert 20 <= n <= 46  # paced at ~40 fps (fewer on a busy machine)


def test_photos_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(CameraError, match=r'^camera.photos_dir = ".*nope": folder not found$'):
        open_source(cfg(source="photos", photos_dir=str(tmp_path / "nope")), tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(CameraError, match=r'^camera.photos_dir = ".*empty": no photos in it'):
        open_source(cfg(source="photos", photos_dir=str(tmp_path / "empty")), tmp_path)


def test_camera_on_photos_and_fast_stop(photo_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    c = cfg(source="photos", photos_dir=str(photo_dir), fps=1.0, photo_seconds=5)
    camera = Camera(c, tmp_path)
    assert camera.latest() is None and camera.status()["state"] == "stopped"
    camera.start()
    try:
        frame = camera.next_frame(0, timeout=3)
        assert isinstance(frame, Frame) and frame.seq == 1 and frame.image.shape == (240, 320, 3)
        assert frame.image.dtype == np.uint8 and abs(frame.timestamp - time.monotonic()) < 2
        assert wait_for(lambda: camera.status()["state"] == "running")
        assert camera.status()["source"] == f"photos {photo_dir}"
    finally:
        camera.stop()
    # the reader's 1 s pacing sleep was cut short: stop() joined it (no "stuck" warning, which
    # it logs when the reader outlives its 1 s join timeout)
    assert "stuck" not in caplog.text
    st = camera.status()
    assert st["state"] == "stopped" and camera.latest() is None


# --- video source -------------------------------------------------------------------------------


def test_video_plays_at_its_own_rate_and_loops(real_video: Path, photos, tmp_path: Path) -> None:
    refs = [letterbox(cv2.imread(str(p)), 320, 240) for p in photos("astronaut", "sample1", "t1")]
    camera = Camera(cfg(source="video", video_path=str(real_video), fps=5), tmp_path)
    with camera:
        order: list[int] = []
        last = 0
        t_end = time.monotonic() + 1.6
        while time.monotonic() < t_end:
            frame = camera.next_frame(last, timeout=1)
            assert frame is not None
            last = frame.seq
            idx = closest(frame.image, refs)
            if not order or order[-1] != idx:
                order.append(idx)
        st = camera.status()
    assert order[:4] == [0, 1, 2, 0]  # played through and started again
    assert st["source"] == "video clip.avi" and st["state"] == "running"
    assert 20 <= st["fps"] <= 36  # the file's 30 fps, not camera.fps = 5


def test_video_file_not_found_message(tmp_path: Path) -> None:
    with pytest.raises(CameraError) as err:
        open_source(cfg(source="video", video_path="x.mp4"), tmp_path)
    assert str(err.value) == 'camera.video_path = "x.mp4": file not found'
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 1000)
    with pytest.raises(CameraError, match="junk.mp4"):
        open_source(cfg(source="video", video_path=str(junk)), tmp_path)


def test_deleted_video_is_reported_and_recovered(photos, tmp_path: Path) -> None:
    short = tmp_path / "short.avi"  # 0.2 s, so the loop soon opens the file again
    make_video(short, [cv2.imread(str(photos("sample5")))], 30.0, 6)
    backup = short.read_bytes()
    camera = Camera(cfg(source="video", video_path=str(short)), tmp_path)
    with camera:
        assert wait_for(lambda: camera.status()["state"] == "running")
        short.unlink()
        assert wait_for(lambda: camera.status()["state"] == "error")
        st = camera.status()
        assert 'camera.video_path = "' in st["error"] and "file not found" in st["error"]
        assert "retrying in" in st["error"]
        frames_before = st["frames"]
        short.write_bytes(backup)
        assert wait_for(lambda: camera.status()["state"] == "running", timeout=5)
        assert wait_for(lambda: camera.status()["frames"] > frames_before + 3)
        st = camera.status()
        assert st["error"] == "" and "file not found" in st["last_error"] and st["reopens"] >= 1


# --- latest frame only --------------------------------------------------------------------------


def test_slow_consumer_gets_the_latest_frame_and_nothing_queues(photos, tmp_path: Path) -> None:
    images = [cv2.imread(str(p)) for p in photos("sample2", "sample3", "sample4")]
    video = make_video(tmp_path / "fast.avi", images, 120.0, 40, size=(640, 480))
    camera = Camera(cfg(source="video", video_path=str(video), width=640, height=480), tmp_path)
    with camera:
        assert camera.next_frame(0, timeout=3) is not None
        time.sleep(0.3)
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            seqs = []
            for _ in range(8):
                time.sleep(0.15)  # a slow consumer: ~18 frames arrive between two looks
                frame = camera.latest()
                assert frame is not None
                seqs.append(frame.seq)
            grown = tracemalloc.get_traced_memory()[0] - base
        finally:
            tracemalloc.stop()
        st = camera.status()
    gaps = np.diff(seqs)
    # increasing, with frames skipped (how many depends on how fast this machine decodes)
    assert (gaps > 0).all() and gaps.max() > 1
    assert st["dropped"] >= sum(g - 1 for g in gaps)
    # ~140 frames of 900 KB went by; a queue would have kept them all
    assert grown < 8 * 640 * 480 * 3, grown


def test_latest_returns_the_same_frame_until_a_new_one(photo_dir: Path, tmp_path: Path) -> None:
    camera = Camera(cfg(source="photos", photos_dir=str(photo_dir), fps=2), tmp_path)
    with camera:
        first = camera.next_frame(0, timeout=3)
        assert first is not None
        assert camera.latest() is first
        second = camera.next_frame(first.seq, timeout=3)
        assert second is not None and second.seq == first.seq + 1
        with pytest.raises(ValueError):
            second.image[0, 0] = 1  # read-only: consumers share it


# --- watchdog -----------------------------------------------------------------------------------


class StallingSource(FrameSource):
    """Real photo frames; after ``good`` frames it stops delivering (blocks) until interrupted."""

    name = "test stalling"

    def __init__(self, image: np.ndarray, good: int) -> None:
        super().__init__()
        self.image, self.good, self.count = image, good, 0
        self.closed = threading.Event()

    def open(self) -> None:
        pass

    def read(self) -> np.ndarray:
        self.count += 1
        if self.count > self.good:
            self._wake.wait(30)  # a driver that hangs
            raise CameraError("interrupted")
        time.sleep(0.02)
        return self.image.copy()

    def close(self) -> None:
        self.closed.set()

    def fresh(self) -> StallingSource:
        return StallingSource(self.image, self.good)


def test_watchdog_detects_a_stall_and_recovers(photos, tmp_path: Path) -> None:
    image = letterbox(cv2.imread(str(photos("messi5"))), 320, 240)
    sources: list[StallingSource] = []

    def opener() -> FrameSource:
        src = StallingSource(image, good=10 if not sources else 10_000)
        sources.append(src)
        return src

    camera = Camera(cfg(), tmp_path, opener=opener)
    states: list[str] = []
    with camera:

        def watch() -> bool:
            s = camera.status()["state"]
            if not states or states[-1] != s:
                states.append(s)
            return len(sources) >= 2 and s == "running"

        assert wait_for(watch, timeout=5)
        st = camera.status()
    assert states[:4] == ["starting", "running", "stalled", "running"], states
    assert "no frame for" in st["last_error"] and st["error"] == ""
    assert sources[0].closed.wait(1)  # the stuck reader was interrupted and closed its source
    assert st["reopens"] == 1


def test_backoff_grows_up_to_the_limit(tmp_path: Path) -> None:
    calls: list[float] = []

    def failing() -> FrameSource:
        calls.append(time.monotonic())
        raise CameraError('camera.device = "7": no video device could be opened')

    camera = Camera(cfg(retry_max_seconds=1.0), tmp_path, opener=failing)
    with camera:
        assert wait_for(lambda: len(calls) >= 4, timeout=5)
        st = camera.status()
    waits = np.diff(calls[:4])
    # 0.5 s, then doubled to the 1 s limit, then held there (a third doubling would wait 2 s);
    # lower bounds are the schedule, upper ones only tell "capped" from "doubled" (a busy
    # machine may wake a thread late)
    assert 0.4 <= waits[0] and 0.9 <= waits[1] < 1.9 and 0.9 <= waits[2] < 1.9, waits
    assert st["state"] == "error"
    assert st["error"].startswith('camera.device = "7": no video device could be opened; retrying in')


# --- opencv devices and auto --------------------------------------------------------------------


def test_bad_devices_give_clear_messages(tmp_path: Path) -> None:
    with pytest.raises(CameraError) as err:
        open_source(cfg(source="opencv", device="/dev/video-none"), tmp_path)
    assert str(err.value) == 'camera.device = "/dev/video-none": no such device'
    if not Path("/dev/video3").exists():
        with pytest.raises(CameraError) as err:
            open_source(cfg(source="opencv", device="3"), tmp_path)
        assert str(err.value) == 'camera.device = "3": no video device could be opened'


def test_camera_with_a_bad_device_keeps_running(tmp_path: Path) -> None:
    camera = Camera(cfg(source="opencv", device="/dev/video-none"), tmp_path)
    with camera:
        assert wait_for(lambda: camera.status()["state"] == "error")
        assert camera.latest() is None
        assert camera.status()["error"].startswith('camera.device = "/dev/video-none": no such device')


def test_stream_password_is_never_shown(tmp_path: Path) -> None:
    src = OpenCVSource("rtsp://admin:s3cret@127.0.0.1:8554/live", width=320, height=240, fps=10)
    assert "s3cret" not in src.name and "admin:***@127.0.0.1:8554" in src.name
    camera = Camera(cfg(source="opencv", device="rtsp://admin:s3cret@127.0.0.1:8554/live"), tmp_path)
    assert "s3cret" not in str(camera.status())


def test_auto_falls_back_to_the_demo_photos(photo_cache: Path, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "picamera2", None)  # not installed
    monkeypatch.setattr(cam_mod, "_video_devices", lambda: [str(tmp_path / "video0")])
    camera = Camera(cfg(source="auto"), photo_cache)
    with camera:
        frame = camera.next_frame(0, timeout=60)  # the first run may download the photos
        assert frame is not None and frame.image.shape == (240, 320, 3)
        st = camera.status()
    assert st["source"] == "photos (demo)"


# --- picamera2 (a stand-in module following the real API; no camera hardware here) -------------


def fake_picamera2(photo: np.ndarray, cameras: int = 1) -> types.ModuleType:
    """A ``picamera2`` module: Picamera2 with the real method names and argument shapes, whose
    lores stream is the given photo as YUV420 (I420) with rows padded to a 64-byte stride."""
    mod = types.ModuleType("picamera2")

    class Picamera2:
        instances: list[Picamera2] = []

        def __init__(self, camera_num: int = 0) -> None:
            self.config: dict | None = None
            self.started = False
            self.closed = False
            Picamera2.instances.append(self)

        @staticmethod
        def global_camera_info() -> list[dict]:
            return [
                {"Model": "imx708", "Location": 2, "Rotation": 180, "Id": "/base/i2c@88000/imx708@1a", "Num": i}
                for i in range(cameras)
            ]

        def create_video_configuration(self, main=None, lores=None, raw=None, controls=None, **kwargs) -> dict:
            return {
                "use_case": "video",
                "main": dict(main or {"size": (1280, 720)}),
                "lores": dict(lores) if lores else None,
                "controls": dict(controls or {}),
            }

        def configure(self, camera_config: dict) -> None:
            self.config = camera_config

        def start(self, config=None, show_preview=False) -> None:
            assert self.config is not None, "configure() before start()"
            self.started = True

        def capture_array(self, name: str = "main") -> np.ndarray:
            assert self.started and self.config is not None
            stream = self.config[name]
            w, h = stream["size"]
            assert stream["format"] == "YUV420"
            time.sleep(1 / self.config["controls"].get("FrameRate", 30))
            stride = (w + 63) // 64 * 64
            padded = np.zeros((h, stride, 3), np.uint8)
            padded[:, :w] = cv2.resize(photo, (w, h), interpolation=cv2.INTER_AREA)
            return cv2.cvtColor(padded, cv2.COLOR_BGR2YUV_I420)  # shape (h*3/2, stride)

        def stop(self) -> None:
            self.started = False

        def close(self) -> None:
            self.closed = True

    mod.Picamera2 = Picamera2
    return mod


def test_picamera2_source_with_the_stand_in_module(photos, monkeypatch, tmp_path: Path) -> None:
    photo = cv2.imread(str(photos("astronaut")))
    fake = fake_picamera2(photo)
    monkeypatch.setitem(sys.modules, "picamera2", fake)
    c = cfg(source="picamera2", width=300, height=220, fps=30)  # 300 is padded to a 320 stride
    camera = Camera(c, tmp_path)
    with camera:
        frame = camera.next_frame(0, timeout=3)
        assert frame is not None
        assert wait_for(lambda: camera.status()["state"] == "running")
        st = camera.status()
    expected = cv2.resize(photo, (300, 220), interpolation=cv2.INTER_AREA)
    assert frame.image.shape == (220, 300, 3)
    assert float(np.mean(cv2.absdiff(frame.image, expected))) < 6  # YUV round trip, colours right
    assert st["source"] == "picamera2"
    [pc] = fake.Picamera2.instances
    assert pc.config["lores"] == {"size": (300, 220), "format": "YUV420"}
    assert pc.closed and not pc.started  # stop() stopped and closed the camera


def test_auto_prefers_an_attached_picamera2(photos, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "picamera2", fake_picamera2(cv2.imread(str(photos("t1")))))
    src = open_source(cfg(source="auto"), tmp_path)
    try:
        assert src.name == "picamera2" and src.read().shape == (240, 320, 3)
    finally:
        src.close()


def test_picamera2_without_a_camera(photos, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "picamera2", fake_picamera2(cv2.imread(str(photos("t1"))), cameras=0))
    with pytest.raises(CameraError, match='^camera.source = "picamera2": no camera is attached'):
        open_source(cfg(source="picamera2"), tmp_path)
    monkeypatch.setitem(sys.modules, "picamera2", None)
    with pytest.raises(CameraError, match="picamera2 module is not installed"):
        open_source(cfg(source="picamera2"), tmp_path)
