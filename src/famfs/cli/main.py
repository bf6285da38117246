"""Entry points of `famfs` and `mkfs.famfs`: parse arguments, dispatch, report errors.

Each subcommand lives in a `famfs.cli.cmd_*` module with a `register(subparsers)` function
that adds its parser and sets `func(args) -> int` as the default.

Exit status: 0 on success, 1 when the command failed, 2 for a usage error (arguments that are
missing, malformed or do not fit together), 130 when interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Mapping, Sequence

from famfs import __version__
from famfs.errors import FamfsError, NoSuperblockError, UsageError

COMMAND_MODULES = ("famfs.cli.cmd_meta", "famfs.cli.cmd_data", "famfs.cli.cmd_mount",
                   "famfs.cli.cmd_devices")
USAGE_EXIT = 2


class ArgumentsError(UsageError):
    """Command-line arguments that are missing or do not fit together: exit status 2, as for
    the arguments argparse itself refuses."""


class CommandParser(argparse.ArgumentParser):
    """An argument parser whose help is `-h`, `-?` and `--help` (only `-?` and `--help` when
    the command uses `-h` for something else: pass `help_flags=("-?", "--help")`)."""

    def __init__(self, *args, help_flags: Sequence[str] = ("-h", "-?", "--help"),
                 **kwargs) -> None:  # type: ignore[no-untyped-def]
        add_help = kwargs.pop("add_help", True)
        kwargs["add_help"] = False
        super().__init__(*args, **kwargs)
        self.commands: Mapping[str, argparse.ArgumentParser] = {}
        """The parser of each command, by name (the top-level parser's)."""
        if add_help and help_flags:
            self.add_argument(*help_flags, action="help", help="show this help and exit")


def add_verbose(parser: argparse.ArgumentParser) -> None:
    """`-v`, repeatable (`-vv`, `-vvv`): more detail on stdout."""
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="print more about what is done (repeat for more)")


def build_parser() -> CommandParser:
    parser = CommandParser(
        prog="famfs",
        description="famfs: the Fabric-Attached Memory File System. Name famfs files as "
                    "DEVICE:PATH (image file or DAX device, then the path inside it) or as "
                    "paths inside a famfs mount.")
    parser.add_argument("--version", action="version", version=f"famfs (pyfamfs) {__version__}",
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                parser_class=CommandParser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    parser.commands = sub.choices
    return parser


def error_text(exc: BaseException) -> str:
    """The message of an error, with what to do where there is something to do."""
    if isinstance(exc, NoSuperblockError):
        return (f"{exc.device or 'device'}: not a famfs image (make one with mkfs.famfs): "
                f"{exc.what}: field {exc.field}: {exc.detail}")
    if isinstance(exc, FamfsError):
        return str(exc)
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror or exc}"
    return str(exc)


def run(func, args: argparse.Namespace, prog: str) -> int:  # type: ignore[no-untyped-def]
    try:
        return int(func(args) or 0)
    except ArgumentsError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return USAGE_EXIT
    except OSError as exc:
        print(f"{prog}: {error_text(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130


def main(argv: Sequence[str] | None = None) -> int:
    """`famfs COMMAND ...`"""
    from famfs.cli.cmd_meta import normalize_logplay_argv

    words = list(sys.argv[1:] if argv is None else argv)
    if "logplay" in words:
        at = words.index("logplay") + 1
        words[at:] = normalize_logplay_argv(words[at:])
    parser = build_parser()
    args = parse_command(parser, words)
    return run(args.func, args, f"famfs {args.command}")


def parse_command(parser: CommandParser, words: list[str]) -> argparse.Namespace:
    """`parser.parse_args(words)`. When the first word names a command, everything after it
    goes to that command's parser, as argparse would send it; the top-level parser is not
    made to look at each of the words first (thousands, for `creat -M`)."""
    command = parser.commands.get(words[0]) if words else None
    if command is None:
        return parser.parse_args(words)
    args, extra = command.parse_known_args(words[1:])
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.command = words[0]
    return args


def mkfs_main(argv: Sequence[str] | None = None) -> int:
    """`mkfs.famfs ...`: the same as `famfs mkfs ...`."""
    from famfs.cli.cmd_meta import mkfs_parser

    parser = mkfs_parser(CommandParser(prog="mkfs.famfs"))
    args = parser.parse_args(argv)
    return run(args.func, args, "mkfs.famfs")
