"""Data before metadata: a copy or creat killed at any moment leaves no listed file with wrong
bytes, a log every command accepts, and nothing held; rerunning completes the work.

The number of kills per scenario is FAMFS_KILL_ROUNDS (default 20 for cp, half that for each
creat scenario); every kill lands at a random moment of a run timed beforehand.
"""

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

from famfs import pattern
from famfs.fs.filesystem import Filesystem
from famfs.fs.fsck import fsck
from famfs.fs.mkfs import mkfs
from famfs.fs.namespace import File
from famfs.mapping.files import file_pieces, read_file

MiB = 1 << 20
ROUNDS = int(os.environ.get("FAMFS_KILL_ROUNDS", "20"))
CREAT_ROUNDS = max(1, ROUNDS // 2)
IMAGE_SIZE = 1024 * MiB
NFILES = 200


@pytest.fixture(scope="module")
def host_env() -> dict[str, str]:
    """The environment of one master host for every run in this module."""
    env = dict(os.environ)
    env.pop("FAMFS_SYSTEM_UUID_FILE", None)
    env["FAMFS_SYSTEM_UUID"] = str(uuid.uuid4())
    return env


@pytest.fixture(autouse=True)
def as_that_host(host_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAMFS_SYSTEM_UUID", host_env["FAMFS_SYSTEM_UUID"])


@pytest.fixture(scope="module")
def source_tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, bytes]]:
    """200 files of 1 B to 700 KiB in 5 directories."""
    root = tmp_path_factory.mktemp("killsrc")
    rng = random.Random(1)
    files = {}
    for i in range(NFILES):
        rel = f"d{i % 5}/f{i:03d}"
        data = rng.randbytes(rng.randint(1, 700 * 1024))
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        files[rel] = data
    return root, files


def famfs_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "famfs", *args]


def run_seconds(cmd: list[str], env: dict[str, str], image: str) -> float:
    """Wall time of one whole run of `cmd` on a fresh filesystem made by the same host."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("FAMFS_SYSTEM_UUID_FILE", raising=False)
        mp.setenv("FAMFS_SYSTEM_UUID", env["FAMFS_SYSTEM_UUID"])
        mkfs(image, size=IMAGE_SIZE, force=True)
    start = time.monotonic()
    subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=120)
    return time.monotonic() - start


def kill_at_random(cmd: list[str], env: dict[str, str], seconds: float, rng: random.Random,
                   ) -> None:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(rng.uniform(0.0, seconds))
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)


def assert_consistent(image: str) -> None:
    """Every command accepts the log, and no allocation collides."""
    report = fsck(image)
    assert report.ok, report.collisions or report.conflicts


@pytest.fixture(scope="module")
def cp_seconds(source_tree, host_env, tmp_path_factory) -> float:
    image = f"/dev/shm/pyfamfs-killcal-{os.getpid()}.img"
    try:
        cmd = famfs_cmd("cp", "-r", str(source_tree[0]), f"{image}:dst")
        return max(run_seconds(cmd, host_env, image) for _ in range(2))
    finally:
        Path(image).unlink(missing_ok=True)


@pytest.mark.parametrize("round_no", range(ROUNDS))
def test_killed_cp_lists_only_complete_files_and_a_rerun_completes(
        image_path: str, source_tree, host_env, cp_seconds: float, round_no: int) -> None:
    root, files = source_tree
    mkfs(image_path, size=IMAGE_SIZE)
    cmd = famfs_cmd("cp", "-r", str(root), f"{image_path}:dst")
    kill_at_random(cmd, host_env, cp_seconds, random.Random(round_no))

    assert_consistent(image_path)
    with Filesystem(image_path) as fs:
        for node in fs.namespace.walk():
            if isinstance(node, File):
                want = files[node.relpath.removeprefix("dst/")]
                assert read_file(fs, node, 0, node.size) == want, node.relpath

    rerun = subprocess.run(cmd, env=host_env, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert_consistent(image_path)
    with Filesystem(image_path) as fs:
        for rel, data in files.items():
            node = fs.file(f"dst/{rel}")
            assert read_file(fs, node, 0, node.size) == data, rel


def _verifies(fs: Filesystem, node: File, seed: int) -> bool:
    return pattern.first_mismatch_pieces(file_pieces(fs, node), seed) is None


@pytest.fixture(scope="module")
def creat_seconds(host_env) -> float:
    image = f"/dev/shm/pyfamfs-killcal-creat-{os.getpid()}.img"
    try:
        return max(run_seconds(famfs_cmd("creat", "-s", "96m", "-r", "-S", "7", f"{image}:big"),
                               host_env, image) for _ in range(2))
    finally:
        Path(image).unlink(missing_ok=True)


@pytest.mark.parametrize("round_no", range(CREAT_ROUNDS))
def test_killed_creat_randomize_logs_the_file_whole_or_not_at_all(
        image_path: str, host_env, creat_seconds: float, round_no: int) -> None:
    mkfs(image_path, size=IMAGE_SIZE)
    cmd = famfs_cmd("creat", "-s", "96m", "-r", "-S", "7", f"{image_path}:big")
    kill_at_random(cmd, host_env, creat_seconds, random.Random(100 + round_no))
    assert_consistent(image_path)
    with Filesystem(image_path) as fs:
        node = fs.namespace.find("big")
        assert node is None or _verifies(fs, node, 7)


MULTI = [(f"m{i:02d}", (i % 5 + 1) * 3 * MiB + i, 1000 + i) for i in range(40)]


@pytest.fixture(scope="module")
def multi_seconds(host_env) -> float:
    image = f"/dev/shm/pyfamfs-killcal-multi-{os.getpid()}.img"
    try:
        return max(run_seconds(_multi_cmd(image), host_env, image) for _ in range(2))
    finally:
        Path(image).unlink(missing_ok=True)


def _multi_cmd(image: str) -> list[str]:
    args = []
    for name, size, seed in MULTI:
        args += ["-M", f"{image}:{name},{size},{seed}"]
    return famfs_cmd("creat", *args)


@pytest.mark.parametrize("round_no", range(CREAT_ROUNDS))
def test_killed_creat_multi_lists_only_files_that_verify(
        image_path: str, host_env, multi_seconds: float, round_no: int) -> None:
    mkfs(image_path, size=IMAGE_SIZE)
    kill_at_random(_multi_cmd(image_path), host_env, multi_seconds,
                   random.Random(200 + round_no))
    assert_consistent(image_path)
    with Filesystem(image_path) as fs:
        for name, size, seed in MULTI:
            node = fs.namespace.find(name)
            assert node is None or (node.size == size and _verifies(fs, node, seed)), name


def test_interrupted_creat_says_so_exits_130_and_logs_nothing(image_path: str,
                                                              host_env) -> None:
    mkfs(image_path, size=2048 * MiB)
    proc = subprocess.Popen(famfs_cmd("creat", "-s", "1536m", "-r", "-S", "3",
                                      f"{image_path}:big"),
                            env=host_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 60
    while os.stat(image_path).st_blocks * 512 < 1024 * MiB:  # backing reserved: filling now
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "interrupted" in err and "Traceback" not in err and "views" not in err
    with Filesystem(image_path) as fs:
        assert fs.namespace.find("big") is None and fs.log.header().next_index == 0
