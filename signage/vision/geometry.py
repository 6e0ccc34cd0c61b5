"""Crop geometry and head pose from the five RetinaFace landmarks.

Crops
-----
Each classifier gets the square crop it scored best with (see docs/models.md): a square of side
``factor x max(box width, box height)`` centred on the detector box, resized to the classifier's
input size.  What happens where the square reaches past the image is the ``fill`` argument:

* ``"clip"`` (age/gender): what face-api.js itself does (``extractFaceTensors`` clips the box at
  the image borders, ``NetInput.toBatchTensor`` pads the clipped rectangle to a square with
  zeros, centred, and resizes it bilinearly): the square is cut to the image, the part that
  remains is centred in a square of its longer side, and the rest is black.  On a face that is
  cut off by the image edge (a face crop, a face at the frame's edge) the visible face then
  fills the input as face-api's nets saw it, instead of shrinking inside an artificial border.
  On the UTKFace dev crops (200x200 chips; RetinaFace's box is ~222 px tall there, so almost
  every crop reaches past the image) gender went from 90.9 to 92.3 % and age MAE from 5.11 to
  4.91 years (int8 detector, mean of 8 sub-pixel box jitters; the same on both halves of the set
  and with the fp32 detector) against the grey fill below.
* a number: that grey level.  Replicating the border pixels draws streaks that the age model
  reads as years (on 200x200 face crops whose box reaches past the image, age MAE went from
  5.0 to 11.5 years at a 1.2x crop with replicated borders, 6.4 with grey), and reflecting them
  mirrors facial features.
* ``None``: replicate the border pixels (the emotion net: on the 48x48 FER+ faces it scored as
  well as or better than grey, black or clipping, within that set's noise).

A square wholly inside the image gives the same pixels whatever ``fill`` is.

Head pose
---------
The five landmarks are left eye, right eye, nose tip, left and right mouth corner (as seen in the
image).  The pose is estimated from a simple face model, in three steps:

1. *Roll*: the angle of the eye line; the points are rotated by minus that angle about the eye
   midpoint so that the eyes are level.
2. *Yaw* (turning left/right): on a face turned by ``yaw``, the inter-eye distance shrinks to
   ``D cos(yaw)`` while the nose tip, which sits a depth ``d`` in front of the eye/mouth plane,
   moves sideways by ``d sin(yaw)`` from the midline (the line through the eye midpoint and mouth
   midpoint).  Hence ``tan(yaw) = (offset / projected eye distance) * D / d``.
3. *Pitch* (nodding): the nose tip's height between the eye line and the mouth line is a fraction
   ``r0`` of that distance on a frontal face; tilting the head by ``pitch`` moves it by
   ``d sin(pitch)`` while the eye-mouth distance ``L`` shrinks to ``L cos(pitch)``, so
   ``tan(pitch) = (r0 - r) * L / d``.

Model constants, in units of the true inter-eye distance D and in RetinaFace's landmark
convention (its "nose" point is the nose tip, its mouth points the mouth corners): eye-to-mouth
distance ``L = 1.05 D`` and frontal nose fraction ``r0 = 0.58`` (medians over RetinaFace's
landmarks on posed, camera-facing photos), nose-tip depth ``d = 0.55 D`` (usual 3D head-pose
reference faces: a nose tip about 35 mm in front of the eyes for 63 mm between the pupils).
A broad smile lifts the mouth corners and reads as about 10 degrees of downward pitch.

Signs: yaw > 0 when the face turns towards the image's right side, pitch > 0 when the face tilts up.  A face is *frontal*, i.e.
looking at the screen the camera is mounted on, when |yaw| and |pitch| are within the
configured limits (default 20 degrees).  The estimate is rough (a few degrees on frontal faces,
more at large angles, and it assumes an average face shape); it is meant for the
watching/not-watching decision, not for measurement.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

__all__ = ["square_crop", "head_pose", "NOSE_DEPTH", "EYE_MOUTH", "NOSE_FRACTION", "FILL", "CLIP", "LANCZOS_ABOVE"]

FILL = 128  # grey for the parts of a crop outside the image
CLIP = "clip"  # fill mode: cut the square to the image, pad to a square with black (face-api.js)

#: a crop enlarged more than this goes through Lanczos, a milder enlargement through bicubic
#: interpolation (see _warp)
LANCZOS_ABOVE = 1.5
NOSE_DEPTH = 0.55  # d / D
EYE_MOUTH = 1.05  # L / D
NOSE_FRACTION = 0.58  # r0


def square_crop(image: np.ndarray, box, factor: float, size: int, fill: int | str | None = FILL) -> np.ndarray:
    """Square crop of side factor * max(w, h) centred on box (x1, y1, x2, y2), resized to size.

    Sub-pixel exact (a one-pixel shift is 2 % of a 48-pixel face and measurably changes the
    emotion scores).  ``fill`` says what stands for the parts outside the image: a grey level,
    None (replicated border pixels) or CLIP (cut to the image, then padded to a square with
    black, as face-api.js does; see the module docstring).  Heavy downscaling goes through an
    area-averaging resize first, so small crops of large faces are not aliased.
    """
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    side = max(1.0, factor * max(x2 - x1, y2 - y1))
    sx, sy = cx - side / 2, cy - side / 2  # square's top-left, image coordinates
    if not isinstance(fill, str):
        return _warp(image, sx, sy, side, size, fill)
    if fill != CLIP:
        raise ValueError(f"unknown crop fill {fill!r} (a grey level, None or {CLIP!r})")
    h, w = image.shape[:2]
    l, t, r, b = max(sx, 0.0), max(sy, 0.0), min(sx + side, float(w)), min(sy + side, float(h))
    if r - l < 1.0 or b - t < 1.0:
        return np.zeros((size, size) + image.shape[2:], image.dtype)
    if (l, t, r, b) == (sx, sy, sx + side, sy + side):
        return _warp(image, sx, sy, side, size, 0)
    cw, ch = r - l, b - t
    side2 = max(cw, ch)
    out = _warp(image, l + cw / 2 - side2 / 2, t + ch / 2 - side2 / 2, side2, size, 0)
    # black outside the clipped rectangle, on both sides of its shorter dimension
    m = int(round((side2 - min(cw, ch)) / 2 * size / side2))
    if m > 0:
        if cw < ch:
            out[:, :m] = 0
            out[:, size - m :] = 0
        else:
            out[:m] = 0
            out[size - m :] = 0
    return out


def _warp(image: np.ndarray, sx: float, sy: float, side: float, size: int, fill: int | None) -> np.ndarray:
    """The square (sx, sy, side) of image resized to size x size; outside: fill (None = replicate)."""
    h, w = image.shape[:2]
    # integer region holding the square plus a 2-pixel margin, clipped to the image
    l, t = int(math.floor(sx)) - 2, int(math.floor(sy)) - 2
    r, b = int(math.ceil(sx + side)) + 2, int(math.ceil(sy + side)) + 2
    l0, t0, r0, b0 = max(l, 0), max(t, 0), min(r, w), min(b, h)
    colour = (fill or 0,) * (image.shape[2] if image.ndim == 3 else 1)
    if r0 <= l0 or b0 <= t0:
        shape = (size, size) + image.shape[2:]
        return np.full(shape, fill or 0, image.dtype)
    roi = image[t0:b0, l0:r0]
    ox, oy = sx - l0, sy - t0  # square's top-left in roi coordinates
    k = size / side
    if k < 0.67:  # downscale most of the way with INTER_AREA
        nw, nh = max(1, round(roi.shape[1] * k * 1.25)), max(1, round(roi.shape[0] * k * 1.25))
        kx, ky = nw / roi.shape[1], nh / roi.shape[0]
        roi = cv2.resize(roi, (nw, nh), interpolation=cv2.INTER_AREA)
        ox, oy = ox * kx, oy * ky
        mx, my = k / kx, k / ky
    else:
        mx = my = k
    # output pixel centre (u + 0.5) <- roi position ox + (u + 0.5) / m - 0.5
    M = np.array([[mx, 0.0, -(ox - 0.5) * mx - 0.5], [0.0, my, -(oy - 0.5) * my - 0.5]])
    # Enlarging (a 48 px face to 112 px) with Lanczos keeps the edges bilinear blurs away: emotion
    # recall +5 points on ckplus48 and +2.5 on FER+ (both 48 px faces), unchanged on muxspace and
    # for age/gender on UTKFace (models/README.md).  OpenCV's warp has no separable Lanczos: its
    # 8x8 taps cost ~1.8 ms per 112 px crop, a tenth of a one-face photo's analysis, so an
    # enlargement of 1.5x or less (a face of 83-124 px for the emotion crop) is bicubic (0.27 ms);
    # the dev sets' figures did not move (models/README.md).  Shrinking stays bilinear after
    # INTER_AREA.
    enlarge = min(mx, my)
    if enlarge > LANCZOS_ABOVE:
        interp = cv2.INTER_LANCZOS4
    else:
        interp = cv2.INTER_CUBIC if enlarge > 1.0 else cv2.INTER_LINEAR
    if fill is None:  # replicate the border pixels instead
        return cv2.warpAffine(roi, M, (size, size), flags=interp, borderMode=cv2.BORDER_REPLICATE)
    return cv2.warpAffine(roi, M, (size, size), flags=interp, borderMode=cv2.BORDER_CONSTANT, borderValue=colour)


def head_pose(landmarks) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees from 5 landmarks (5x2): see the module docstring.

    Scalar arithmetic on the ten numbers: the live pipeline calls this for every face of every
    analysed frame, and numpy's per-call overhead on 5x2 arrays was most of its cost."""
    lex, ley, rex, rey, nx, ny, lmx, lmy, rmx, rmy = np.asarray(landmarks, np.float64).reshape(10).tolist()
    ex, ey = rex - lex, rey - ley
    D = math.hypot(ex, ey)
    if D < 1e-6:
        return 0.0, 0.0, 0.0
    roll = math.atan2(ey, ex)
    c, s = math.cos(-roll), math.sin(-roll)
    mx, my = (lex + rex) / 2, (ley + rey) / 2

    def level(x: float, y: float) -> tuple[float, float]:
        """A point with the eyes level and the eye midpoint at the origin."""
        dx, dy = x - mx, y - my
        return c * dx - s * dy, s * dx + c * dy

    nose_x, nose_y = level(nx, ny)
    lq, rq = level(lmx, lmy), level(rmx, rmy)
    mouth_x, mouth_y = (lq[0] + rq[0]) / 2, (lq[1] + rq[1]) / 2
    L = mouth_y  # projected eye-to-mouth distance (image y grows down)
    # yaw: nose offset from the eye-mouth midline, at the nose's height
    mid_x = mouth_x * (nose_y / L) if abs(L) > 1e-6 else 0.0
    yaw = math.degrees(math.atan(((nose_x - mid_x) / D) / NOSE_DEPTH))
    # pitch: where the nose tip sits between the eye line and the mouth line
    pitch = math.degrees(math.atan((NOSE_FRACTION - nose_y / L) * EYE_MOUTH / NOSE_DEPTH)) if L > 1e-6 else 0.0
    return yaw, pitch, math.degrees(roll)
