"""Command line: `python -m signage COMMAND`. Every command loads the config once and
turns a configuration problem into one clear line, never a traceback."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from pathlib import Path

from .config import Config, ConfigError, load_config

#: modules that add sub-commands with `register(subparsers)`; each command's
#: `func(args, config) -> int` is called with the loaded config.
COMMAND_MODULES: list[str] = [
    "signage.vision.cli",
    "signage.ads.cli",
    "signage.web.admin.cli",
    "signage.bench",
    "signage.fleet.cli",
]


def _cmd_run(args: argparse.Namespace, config: Config) -> int:
    from .app import serve
    from .logs import setup_logging
    from .store import StoreError

    setup_logging(config.logging)
    try:
        code = asyncio.run(serve(config))
    except KeyboardInterrupt:
        code = 0
    except StoreError as exc:
        print(f"signage: database error: {exc}", file=sys.stderr)
        return 1
    _exit_past_stuck_threads(code)
    return code


def _exit_past_stuck_threads(code: int) -> None:
    """After a clean stop (data flushed, database closed) a worker thread can still be inside
    native code: an inference on a starved CPU, a camera driver call. The interpreter's teardown
    would free onnxruntime under it and abort the process ("terminate called without an active
    exception", exit -6: a crash to systemd, seen in CI). Nothing of ours is left to save, so
    such a process ends at once, without that teardown."""
    import logging
    import os
    import threading

    stuck = [t.name for t in threading.enumerate() if t is not threading.main_thread() and t.is_alive()]
    if stuck:
        logging.getLogger("signage.app").warning("threads still busy at exit: %s; exiting without teardown", stuck)
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _cmd_check_config(args: argparse.Namespace, config: Config) -> int:
    print(f"{args.config_path}: OK")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m signage", description="Privacy-first, audience-aware digital signage."
    )
    parser.add_argument(
        "--config",
        dest="config_path",
        default="config.toml",
        metavar="PATH",
        help="config file (default: ./config.toml)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = sub.add_parser("run", help="run the appliance (camera, vision, player, web server)")
    run.add_argument("--config", dest="config_path", default=argparse.SUPPRESS, metavar="PATH")
    run.add_argument("--host", help="listen address (overrides web.host)")
    run.add_argument("--port", type=int, help="TCP port (overrides web.port; 0 = any free port)")
    run.add_argument("--data-dir", type=Path, help="folder for the database (overrides storage.data_dir)")
    run.set_defaults(func=_cmd_run)

    check = sub.add_parser("check-config", help="check a config file without starting")
    check.add_argument("path", nargs="?", help="config file (default: --config)")
    check.set_defaults(func=_cmd_check_config)

    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def _apply_overrides(args: argparse.Namespace, config: Config) -> Config:
    web = {}
    if getattr(args, "host", None):
        web["host"] = args.host
    if getattr(args, "port", None) is not None:
        if not 0 <= args.port <= 65535:
            raise ConfigError(f"--port {args.port}: must be between 0 and 65535")
        web["port"] = args.port
    changes: dict = {"web": web} if web else {}
    if getattr(args, "data_dir", None):
        changes["storage"] = {"data_dir": args.data_dir.resolve()}
    if not changes:
        return config
    # --port 0 (any free port) is allowed on the command line, not in the file.
    port = web.pop("port", None)
    config = config.replace(**changes)
    if port is not None:
        import dataclasses

        config = dataclasses.replace(config, web=dataclasses.replace(config.web, port=port))
    return config


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "check-config" and args.path:
        args.config_path = args.path
    if not getattr(args, "needs_config", True):
        # e.g. set-password, which must be able to mend a file the loader refuses
        return args.func(args, None)
    try:
        config = _apply_overrides(args, load_config(args.config_path))
    except ConfigError as exc:
        print(f"signage: config error: {exc}", file=sys.stderr)
        return 2
    return args.func(args, config)


if __name__ == "__main__":
    sys.exit(main())
