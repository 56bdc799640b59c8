"""The ``loa`` command. Each part registers its own subcommands from a light ``cli`` module
(argparse only at import time: the node agent's Pi must not need the controller's libraries)."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from loa import __version__

#: Modules that each define ``register(subparsers)``.
PARTS = ("controller.cli", "node_agent.cli", "audio.cli", "audio.voicebank.cli", "controller.demo")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="loa", description="Loa: hệ thống truyền thanh thông minh mã nguồn mở"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--version", action="version", version=f"loa {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in PARTS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue  # a part this installation does not carry
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    result = args.func(args)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
