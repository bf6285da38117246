"""Fixtures shared by every test: hosts (system UUIDs), images and the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

GOLDEN = Path(__file__).parent / "data" / "famfs-golden"


@pytest.fixture(autouse=True)
def host_uuid(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs as its own master host: a fresh system UUID in a private file."""
    path = tmp_path_factory.mktemp("host") / "system_uuid"
    value = str(uuid.uuid4())
    path.write_text(value + "\n")
    monkeypatch.setenv("FAMFS_SYSTEM_UUID_FILE", str(path))
    monkeypatch.delenv("FAMFS_SYSTEM_UUID", raising=False)
    return value


@pytest.fixture(autouse=True)
def host_state(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test's host keeps its device-path cache (famfs.resolver) in a private directory
    and looks for devices only where the test says."""
    path = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("FAMFS_STATE_DIR", str(path))
    monkeypatch.delenv("FAMFS_DAXDEV_PATH", raising=False)
    monkeypatch.setenv("FAMFS_DAXDEV_CONFIG", str(path / "daxdevs.conf"))
    return str(path)


@pytest.fixture(autouse=True, scope="session")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Host-local log indexes of the suite's images go to a directory of its own (subprocesses
    inherit it), not to /var/cache/famfs."""
    path = tmp_path_factory.mktemp("famfs-index")
    old = os.environ.get("FAMFS_INDEX_DIR")
    os.environ["FAMFS_INDEX_DIR"] = str(path)
    yield path
    if old is None:
        os.environ.pop("FAMFS_INDEX_DIR", None)
    else:
        os.environ["FAMFS_INDEX_DIR"] = old


@pytest.fixture
def image_path(tmp_path: Path) -> str:
    """Path for a new image file in /dev/shm (removed afterwards)."""
    base = Path("/dev/shm") if os.access("/dev/shm", os.W_OK) else tmp_path
    path = base / f"pyfamfs-test-{uuid.uuid4().hex[:12]}.img"
    yield str(path)
    path.unlink(missing_ok=True)


def run_cli(*args: str, env: dict[str, str] | None = None, input: bytes | None = None,
            check: bool = False, prog: str = "famfs") -> subprocess.CompletedProcess[str]:
    """Run the real command line in a subprocess (`famfs ...` or `mkfs.famfs ...`)."""
    module = "famfs" if prog == "famfs" else "famfs.cli.mkfs"
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    cmd = [sys.executable, "-m", module, *args]
    proc = subprocess.run(cmd, env=full_env, capture_output=True, text=True,
                          input=None if input is None else input.decode())
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


@pytest.fixture
def cli():
    """The `run_cli` function, as a fixture."""
    return run_cli
