"""Entry points of `famfs` and `mkfs.famfs`: parse arguments, dispatch, report errors.

Each subcommand lives in a `famfs.cli.cmd_*` module with a `register(subparsers)` function
that adds its parser and sets `func(args) -> int` as the default.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from famfs.errors import FamfsError

COMMAND_MODULES = ("famfs.cli.cmd_meta", "famfs.cli.cmd_data", "famfs.cli.cmd_mount")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="famfs",
        description="famfs: the Fabric-Attached Memory File System. Name famfs files as "
                    "DEVICE:PATH (image file or DAX device, then the path inside it) or as "
                    "paths inside a famfs mount.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def run(func, args: argparse.Namespace, prog: str) -> int:  # type: ignore[no-untyped-def]
    try:
        return int(func(args) or 0)
    except FamfsError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"{prog}: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130


def main(argv: Sequence[str] | None = None) -> int:
    """`famfs COMMAND ...`"""
    parser = build_parser()
    args = parser.parse_args(argv)
    return run(args.func, args, f"famfs {args.command}")


def mkfs_main(argv: Sequence[str] | None = None) -> int:
    """`mkfs.famfs ...`: the same as `famfs mkfs ...`."""
    from famfs.cli.cmd_meta import mkfs_parser

    parser = mkfs_parser(argparse.ArgumentParser(prog="mkfs.famfs"))
    args = parser.parse_args(argv)
    return run(args.func, args, "mkfs.famfs")
