"""``analyze`` and ``eval`` subcommands (wired into ``python -m signage`` by ``register``).

    python -m signage analyze PATH [PATH...] [--json] [--crop]
    python -m signage eval FOLDER [--json] [--limit N]

Exit status: 0 on success; 1 when any input file could not be read (analyze) or the folder is
not an eval folder (eval); 2 when the models are missing or damaged (the message says how to
rebuild them).  Images are only read, never written anywhere.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Iterator

from ..config import Config
from .models import ModelError

__all__ = ["register", "cmd_analyze", "cmd_eval", "iter_images", "IMAGE_SUFFIXES"]

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm", ".pbm"}


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "analyze",
        help="detect and classify faces in images",
        description="Detect faces in images (or folders of images, recursively) and "
        "estimate emotion, age, gender and head pose.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders")
    p.add_argument("--json", action="store_true", help="one JSON object per image per line")
    p.add_argument("--crop", action="store_true", help="treat each image as one face crop (no detection)")
    p.set_defaults(func=cmd_analyze)

    e = subparsers.add_parser(
        "eval",
        help="measure the vision models on labelled folders",
        description="Measure detection, emotion, age and gender on a folder with "
        "manifest.csv (and optionally boxes.csv), or on every such "
        "folder inside FOLDER: then one table with the reference "
        "pipeline's figures beside the current ones.",
    )
    e.add_argument("folder", metavar="FOLDER", type=Path, help="an eval folder or a folder of them")
    e.add_argument("--json", action="store_true", help="print the report as one JSON object")
    e.add_argument("--limit", type=int, default=None, metavar="N", help="only the first N images")
    e.add_argument(
        "--age-gate",
        action="store_true",
        help="also measure the age gate on single photos and simulated tracks (several "
        "minutes: every photo is analysed once more per simulated frame)",
    )
    e.add_argument("--views", type=int, default=6, metavar="N", help="simulated frames per track (default 6)")
    e.set_defaults(func=cmd_eval)


def iter_images(paths: list[str]) -> Iterator[Path]:
    """Files named on the command line as given; folders walked recursively, sorted, images only."""
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            for f in sorted(q for q in p.rglob("*") if q.is_file() and q.suffix.lower() in IMAGE_SUFFIXES):
                yield f
        else:
            yield p


def _make_analyzer(config: Config):
    from .analyzer import FaceAnalyzer

    return FaceAnalyzer(config.vision)


def _table_rows(path: Path, width: int, height: int, faces: list[dict]) -> list[str]:
    out = [f"{path}  {width}x{height}  {len(faces)} face{'s' if len(faces) != 1 else ''}"]
    for i, f in enumerate(faces, 1):
        x, y, w, h = f["box"]
        pose = "" if f["yaw"] is None else f"  yaw {f['yaw']:+5.1f} pitch {f['pitch']:+5.1f}"
        score = "" if f["score"] is None else f" score {f['score']:.2f}"
        mask = "" if f["mask"] is None else f"  mask {f['mask']:.2f}"
        out.append(
            f"  #{i} box {x},{y} {w}x{h}{score}{pose}  {f['emotion']} {f['emotion_scores'][f['emotion']]:.2f}"
            f"  age {f['age']:.0f} ({f['age_group']} {f['age_group_scores'][f['age_group']]:.2f})"
            f"  {f['gender']} {f['gender_score']:.2f}{mask}"
        )
    return out


def cmd_analyze(args: argparse.Namespace, config: Config) -> int:
    from .evaluate import read_image

    try:
        analyzer = _make_analyzer(config)
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    failed = 0
    try:
        for path in iter_images(args.paths):
            rec: dict[str, Any] = {"path": str(path), "width": None, "height": None, "faces": [], "error": None}
            img = read_image(path) if path.is_file() else None
            if img is None:
                rec["error"] = (
                    "no such file"
                    if not path.exists()
                    else ("not a file" if not path.is_file() else "not a readable image")
                )
                failed += 1
            else:
                rec["height"], rec["width"] = int(img.shape[0]), int(img.shape[1])
                try:
                    faces = analyzer.analyze_crop(img) if args.crop else analyzer.analyze(img)
                    rec["faces"] = [f.to_json() for f in faces]
                except Exception as exc:  # keep going with the other files
                    rec["error"] = f"analysis failed: {exc.__class__.__name__}: {exc}"
                    failed += 1
            if args.json:
                print(json.dumps(rec), flush=True)
            elif rec["error"]:
                print(f"{path}  error: {rec['error']}", flush=True)
            else:
                print("\n".join(_table_rows(path, rec["width"], rec["height"], rec["faces"])), flush=True)
    finally:
        analyzer.close()
    return 1 if failed else 0


def cmd_eval(args: argparse.Namespace, config: Config) -> int:
    from .evaluate import (
        age_gate_report,
        eval_folders,
        evaluate_folder,
        format_age_gate,
        format_report,
        format_table,
        table_rows,
    )

    try:
        analyzer = _make_analyzer(config)
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    gate = None
    try:
        folders = eval_folders(args.folder)
        reports = []
        for folder in folders:
            reports.append(evaluate_folder(analyzer, folder, limit=args.limit))
            if not args.json:
                print(format_report(reports[-1]) + "\n", flush=True)
        if args.age_gate:
            gate = age_gate_report(analyzer, folders, config.ads.age_gate_min_age, views=args.views, limit=args.limit)
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        analyzer.close()
    rows = table_rows(reports)
    if args.json:
        out: dict[str, Any] = reports[0] if len(reports) == 1 else {"sets": reports, "table": rows}
        print(json.dumps({**out, "age_gate": gate} if gate else out))
        return 0
    if len(reports) > 1 or any(r["reference"] is not None for r in rows):
        print(format_table(rows))
        if args.limit:
            print(f"(--limit {args.limit}: a subset, not comparable with the reference's full-set figures)")
    if gate:
        print("\n" + format_age_gate(gate))
    return 0
