"""A `famfs cp -r` killed at any moment leaves a consistent image, and rerunning completes it."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from famfs.fs.filesystem import Filesystem
from famfs.fs.mkfs import mkfs
from famfs.fs.namespace import File

MiB = 1 << 20
ROUNDS = 10
IMAGE_SIZE = 320 * MiB


@pytest.fixture(scope="module")
def source_tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, bytes]]:
    root = tmp_path_factory.mktemp("killsrc")
    rng = random.Random(1)
    files = {}
    for i in range(120):
        rel = f"d{i % 4}/f{i:03d}"
        data = rng.randbytes(rng.randint(1, 1200 * 1024))
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        files[rel] = data
    return root, files


def cp_command(image: str, root: Path, verbose: bool = True) -> list[str]:
    return [sys.executable, "-m", "famfs", "cp", "-r", *(["-v"] if verbose else []),
            str(root), f"{image}:dst"]


@pytest.fixture(scope="module")
def startup_seconds(source_tree: tuple[Path, dict[str, bytes]]) -> float:
    """Seconds from start until a warm `famfs cp -r` reports its first file copied here."""
    image = f"/dev/shm/pyfamfs-kill-{os.getpid()}.img"
    with pytest.MonkeyPatch.context() as mp:  # a host of its own; no /opt/famfs involved
        mp.setenv("FAMFS_SYSTEM_UUID", str(uuid.uuid4()))
        return _time_to_first_file(image, source_tree[0])


def _time_to_first_file(image: str, root: Path) -> float:
    try:
        times = []
        for _ in range(2):
            mkfs(image, size=IMAGE_SIZE, force=True)
            start = time.monotonic()
            proc = subprocess.Popen(cp_command(image, root), stdout=subprocess.PIPE, text=True)
            assert proc.stdout is not None
            proc.stdout.readline()
            times.append(time.monotonic() - start)
            proc.communicate()
            assert proc.returncode == 0
        return min(times)
    finally:
        Path(image).unlink(missing_ok=True)


def copied_lines(stdout: str) -> set[str]:
    """Famfs paths the killed cp reported as completely copied (it prints after each)."""
    done = set()
    for line in stdout.splitlines():
        if " -> " in line and line.endswith(tuple("0123456789")):
            done.add(line.rsplit(":", 1)[1])
    return done


@pytest.mark.parametrize("round_no", range(ROUNDS))
def test_killed_cp_leaves_a_consistent_image_and_rerun_completes(
        image_path: str, source_tree: tuple[Path, dict[str, bytes]],
        startup_seconds: float, round_no: int) -> None:
    root, files = source_tree
    mkfs(image_path, size=IMAGE_SIZE)
    rng = random.Random(round_no)
    proc = subprocess.Popen(cp_command(image_path, root), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    seen = []
    if round_no < 3:  # while planning, logging directories, or appending the file entries
        time.sleep(startup_seconds * rng.uniform(0.7, 1.0))
    else:  # while copying data: after some files are reported done
        for _ in range(rng.randint(1, len(files) - 10)):
            seen.append(proc.stdout.readline())
    os.kill(proc.pid, signal.SIGKILL)
    rest, _ = proc.communicate(timeout=30)
    out = "".join(seen) + rest

    with Filesystem(image_path) as fs:  # opens: superblock, log and every entry check out
        assert fs.collisions == []
        for relpath in copied_lines(out):
            node = fs.file(relpath)
            want = files[relpath.removeprefix("dst/")]
            assert fs.read(node, 0, node.size) == want, relpath
        for node in fs.namespace.walk():
            if isinstance(node, File):
                assert node.size == len(files[node.relpath.removeprefix("dst/")])

    rerun = subprocess.run(cp_command(image_path, root, verbose=False), capture_output=True,
                           text=True, timeout=60)
    assert rerun.returncode == 0, rerun.stderr
    with Filesystem(image_path) as fs:
        assert fs.collisions == []
        for rel, data in files.items():
            node = fs.file(f"dst/{rel}")
            assert fs.read(node, 0, node.size) == data, rel
