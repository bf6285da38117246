"""Memory follows what is in use, not what the log claims: 63 devices of 64 TiB each (34 KB of
log) cost fsck and creat no more than an empty filesystem does."""

from __future__ import annotations

import subprocess
import sys

import pytest

from famfs.fs.filesystem import Filesystem
from famfs.fs.mkfs import mkfs
from famfs.omf.layout import MiB
from famfs.omf.log import AddDaxdevEntry

LIMIT_KIB = 150 * 1024

MEASURE = ("import resource, subprocess, sys\n"
           "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)\n"
           "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def peak_rss_kib(*args: str) -> int:
    """Peak resident set (KiB) of one `famfs ARGS...` run."""
    out = subprocess.run([sys.executable, "-c", MEASURE, sys.executable, "-m", "famfs", *args],
                         check=True, capture_output=True, text=True).stdout
    return int(out)


@pytest.fixture
def many_huge_devices(image_path: str) -> str:
    mkfs(image_path, size=256 * MiB)
    with Filesystem(image_path, writable=True) as fs, fs.device.append_lock():
        fs.log.append([AddDaxdevEntry(i, 64 << 40, bytes([i]) * 16) for i in range(1, 64)])
    return image_path


@pytest.mark.parametrize("args", [("fsck",), ("creat", "-s", "4m", "--device", "0")],
                         ids=["fsck", "creat"])
def test_commands_stay_small_on_a_log_claiming_4_pib(many_huge_devices: str, args) -> None:
    target = many_huge_devices if args[0] == "fsck" else f"{many_huge_devices}:f"
    assert peak_rss_kib(*args, target) < LIMIT_KIB
