"""The command line spelled as famfs users spell it: repeated -v, combined short flags, -? for
help, --version, --fuse/--nofuse, and a help text for every command and option."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from famfs.cli.main import build_parser
from famfs.fs.filesystem import Filesystem
from famfs.fs.mkfs import mkfs
from famfs.omf.layout import MiB

COMMANDS = ["mkfs", "fsck", "logplay", "mkdir", "getmap", "clone", "flush", "chkread", "mkmeta",
            "creat", "cp", "verify", "mount", "umount", "devadd", "daxdev"]


@pytest.fixture
def image(image_path: str) -> str:
    mkfs(image_path, size=64 * MiB)
    return image_path


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("no subcommands")


def test_every_command_has_a_one_line_description() -> None:
    parser = build_parser()
    helps = {a.dest: a.help for a in next(a for a in parser._actions
                                           if isinstance(a, argparse._SubParsersAction))
             ._choices_actions}
    assert sorted(helps) == sorted(COMMANDS)
    for name, text in helps.items():
        assert text and "\n" not in text, name


def test_every_option_and_argument_has_a_help_text() -> None:
    for name, sub in _subparsers(build_parser()).items():
        for action in sub._actions:
            assert action.help, f"{name}: {action.option_strings or action.dest}"


@pytest.mark.parametrize("command", [c for c in COMMANDS])
def test_question_mark_gives_help_for_every_command(cli, command: str) -> None:
    proc = cli(command, "-?")
    assert proc.returncode == 0, proc.stderr
    assert "usage:" in proc.stdout


def test_question_mark_and_h_give_the_top_level_help(cli) -> None:
    for flag in ("-?", "-h", "--help"):
        proc = cli(flag)
        assert proc.returncode == 0 and "COMMAND" in proc.stdout


def test_version_is_printed(cli) -> None:
    import famfs

    proc = cli("--version")
    assert proc.returncode == 0 and famfs.__version__ in proc.stdout


@pytest.mark.parametrize("argv", [
    [], ["--"], ["badarg"], ["creat"], ["mkdir"], ["getmap"], ["flush"], ["fsck"], ["chkread"],
    ["mkmeta"], ["clone", "x"], ["cp", "x"], ["verify"], ["mount"], ["mount", "a", "b", "c"],
    ["creat", "--nosuchflag", "x"],
])
def test_usage_errors_exit_2_without_a_traceback(cli, argv) -> None:
    proc = cli(*argv)
    assert proc.returncode == 2, (argv, proc.stderr)
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("flags", [["-v"], ["-vv"], ["-vvv"], ["-v", "-v"]])
def test_verbosity_repeats_for_mkfs(cli, image_path: str, flags) -> None:
    proc = cli(*flags, "-s", "64m", image_path, prog="mkfs.famfs")
    assert proc.returncode == 0, proc.stderr
    assert "Famfs Superblock:" in proc.stdout


def test_mkfs_verbose_prints_the_log_geometry(cli, image_path: str) -> None:
    proc = cli("-v", "-s", "64m", image_path, prog="mkfs.famfs")
    assert "  log_len:           8388608\n" in proc.stdout


@pytest.mark.parametrize("flags", [["-pv"], ["-vp"], ["-p", "-vvv"], ["-pvvv"]])
def test_mkdir_combines_parents_and_verbosity(cli, image: str, flags) -> None:
    proc = cli("mkdir", *flags, f"{image}:a/b/c")
    assert proc.returncode == 0, proc.stderr
    with Filesystem(image) as fs:
        assert fs.namespace.find("a/b/c") is not None


def test_mkdir_verbose_says_what_it_made(cli, image: str) -> None:
    proc = cli("mkdir", "-v", f"{image}:made")
    assert proc.returncode == 0 and "made" in proc.stdout


@pytest.mark.parametrize("command", ["getmap", "clone", "flush", "mkmeta", "cp", "creat",
                                     "verify"])
def test_verbose_is_accepted_everywhere_the_reference_accepts_it(cli, command: str) -> None:
    proc = cli(command, "-vv", "-?")
    assert proc.returncode == 0, proc.stderr


def test_nofuse_is_a_clear_error_and_fuse_is_accepted(cli, image: str) -> None:
    proc = cli("mount", "--nofuse", image, "/nonexistent")
    assert proc.returncode == 2 and "FUSE only" in proc.stderr
    assert cli("fsck", "--fuse", image).returncode == 0


def test_mount_read_and_mmap_together_are_refused_for_that_reason(cli, image: str,
                                                                  tmp_path: Path) -> None:
    proc = cli("mount", "-rm", "-vvv", image, str(tmp_path))
    assert proc.returncode == 1 and "mutually exclusive" in proc.stderr


def test_mount_on_a_missing_directory_says_it_does_not_exist(cli, image: str,
                                                             tmp_path: Path) -> None:
    proc = cli("mount", image, str(tmp_path / "nowhere"))
    assert proc.returncode == 1 and "does not exist" in proc.stderr


def test_mount_of_a_missing_device_says_so(cli, tmp_path: Path) -> None:
    proc = cli("mount", str(tmp_path / "baddev"), str(tmp_path))
    assert proc.returncode == 1 and "no such device" in proc.stderr


def test_mount_with_a_log_file_that_cannot_be_opened_fails_first(cli, image: str,
                                                                 tmp_path: Path) -> None:
    proc = cli("mount", "--log", str(tmp_path / "no" / "such" / "dir.log"), image,
               str(tmp_path))
    assert proc.returncode == 1 and "cannot open the server's log file" in proc.stderr
