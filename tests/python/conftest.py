"""Fixtures for the Python API: famfs images with files in them, client hosts, throw-away
users, and the FUSE mount fixtures (from tests/fuse) for the tests that use a real mount."""

from __future__ import annotations

import importlib.util
import os
import pwd
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from python_helpers import User

from famfs.access import release_connections
from famfs.fs.filesystem import Filesystem
from famfs.fs.mkfs import mkfs
from famfs.omf.layout import MiB

IMAGE_SIZE = 256 * MiB

_spec = importlib.util.spec_from_file_location(
    "famfs_fuse_fixtures", Path(__file__).parents[1] / "fuse" / "conftest.py")
assert _spec is not None and _spec.loader is not None
fuse_fixtures = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = fuse_fixtures
_spec.loader.exec_module(fuse_fixtures)
need_fuse = fuse_fixtures.need_fuse
mounter = fuse_fixtures.mounter
public_dir = fuse_fixtures.public_dir


@pytest.fixture(autouse=True)
def fresh_connections() -> Iterator[None]:
    """Each test starts and ends with nothing cached in this process."""
    release_connections()
    yield
    release_connections()


@pytest.fixture
def image(image_path: str) -> str:
    """A fresh 256 MiB famfs image (this test's host is its master)."""
    mkfs(image_path, size=IMAGE_SIZE)
    return image_path


@pytest.fixture
def fs(image: str) -> Iterator[Filesystem]:
    """The image's filesystem, opened writable (for setting up files)."""
    with Filesystem(image, writable=True) as filesystem:
        yield filesystem


@pytest.fixture
def as_client(monkeypatch: pytest.MonkeyPatch) -> Callable[[], str]:
    """Call it to make this process a client host from then on (a new system UUID)."""
    def become() -> str:
        value = str(uuid.uuid4())
        monkeypatch.setenv("FAMFS_SYSTEM_UUID", value)
        return value
    return become


@pytest.fixture
def user() -> Iterator[User]:
    """A real local user made for this test (needs root), removed afterwards."""
    if os.geteuid() != 0:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("permission tests need root to make a user")
        pytest.skip("permission tests need root to make a user")
    name = f"famfst{uuid.uuid4().hex[:8]}"
    subprocess.run(["useradd", "--no-create-home", "--user-group", "--shell",
                    "/usr/sbin/nologin", name], check=True, capture_output=True)
    try:
        entry = pwd.getpwnam(name)
        yield User(name, entry.pw_uid, entry.pw_gid)
    finally:
        subprocess.run(["userdel", name], check=False, capture_output=True)


