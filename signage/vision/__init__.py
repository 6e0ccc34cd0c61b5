"""Vision: ONNX face detection, crops, classifiers, tracking and the live pipeline.

Modules (one-way flow: models -> detector/classifiers -> analyzer -> tracker -> pipeline):

* ``models``      -- model file checks (presence, sha256 against models/manifest.json, loadable)
                     and onnxruntime sessions created once; ``ModelError``.
* ``detector``    -- the ``FaceDetector`` plugin interface and RetinaFace (priors, decode, NMS).
* ``geometry``    -- classifier crops and head pose (yaw/pitch) from the 5 landmarks.
* ``classifiers`` -- emotion, age + gender (with age-group probabilities), optional mask.
* ``analyzer``    -- ``FaceAnalyzer``: one image -> ``FaceResult`` list (``analyze``/``analyze_crop``).
* ``tracker``     -- tracks, confirmation/closing, smoothing, dwell and attention (pure logic).
* ``agegate``     -- the age gate over a track's frames (pure logic; ads.selection calls it).
* ``pipeline``    -- ``VisionPipeline``: worker thread, results to the event loop; chooses the
                     detector's input size per frame (reduced while every face is large).
* ``evaluate``/``cli`` -- the ``analyze`` and ``eval`` commands.

Privacy: frames and crops exist only in memory; nothing in this package writes images.
Heavy imports (onnxruntime, cv2) happen when a submodule is imported, not here.
"""

__all__ = ["ModelError"]


def __getattr__(name: str):
    if name == "ModelError":
        from .models import ModelError

        return ModelError
    raise AttributeError(name)
