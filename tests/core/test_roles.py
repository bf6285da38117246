"""Master and clients: only the master appends; clients read, check and replay."""

from __future__ import annotations

import hashlib
import uuid

import pytest

from famfs.errors import RoleError
from famfs.fs.filesystem import Filesystem, NewFile
from famfs.fs.mkfs import mkfs
from famfs.omf.layout import MiB

CLIENT = str(uuid.UUID(int=0xC11E47))


@pytest.fixture
def fs_image(image_path: str) -> str:
    mkfs(image_path, size=64 * MiB)
    with Filesystem(image_path, writable=True) as fs:
        fs.mkdir("d")
        fs.create_file("d/f", MiB)
    return image_path


def _digest(path: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


@pytest.fixture
def as_client(fs_image: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """This process becomes a client host (after the image was made by the master)."""
    monkeypatch.setenv("FAMFS_SYSTEM_UUID", CLIENT)


def test_the_mkfs_host_is_master(fs_image: str) -> None:
    with Filesystem(fs_image) as fs:
        assert fs.is_master()


@pytest.mark.usefixtures("as_client")
def test_a_client_is_not_master(fs_image: str) -> None:
    with Filesystem(fs_image) as fs:
        assert not fs.is_master()


@pytest.mark.usefixtures("as_client")
@pytest.mark.parametrize("append", [
    lambda fs: fs.create_files([NewFile("x", 1)]),
    lambda fs: fs.create_file("d/y", MiB),
    lambda fs: fs.mkdir("e"),
    lambda fs: fs.mkdir("d/e/f", parents=True),
    lambda fs: fs.clone("d/f", "g"),
], ids=["create_files", "create_file", "mkdir", "mkdir-p", "clone"])
def test_a_client_is_refused_every_append_and_nothing_changes(fs_image: str, append) -> None:
    before = _digest(fs_image)
    with Filesystem(fs_image, writable=True) as fs, pytest.raises(RoleError) as err:
        append(fs)
    assert CLIENT in str(err.value) and "master" in str(err.value)
    assert _digest(fs_image) == before


@pytest.mark.parametrize("args", [("mkdir", "{img}:e"), ("clone", "{img}:d/f", "{img}:g")],
                         ids=["mkdir", "clone"])
def test_a_client_cli_append_is_refused_clearly(fs_image: str, cli, args) -> None:
    before = _digest(fs_image)
    proc = cli(*(a.format(img=fs_image) for a in args), env={"FAMFS_SYSTEM_UUID": CLIENT})
    assert proc.returncode == 1
    assert "client" in proc.stderr and "master" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert _digest(fs_image) == before


def test_a_client_may_check_and_replay(fs_image: str, cli) -> None:
    env = {"FAMFS_SYSTEM_UUID": CLIENT}
    assert cli("fsck", fs_image, env=env).returncode == 0
    proc = cli("logplay", fs_image, env=env, check=True)
    assert proc.stdout.strip() == "2 log entries; 1 new files; 1 new directories"


def test_a_client_sees_files_the_master_adds_after_refresh(fs_image: str,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          host_uuid: str) -> None:
    monkeypatch.setenv("FAMFS_SYSTEM_UUID", CLIENT)
    client = Filesystem(fs_image)
    try:
        monkeypatch.setenv("FAMFS_SYSTEM_UUID", host_uuid)
        with Filesystem(fs_image, writable=True) as master:
            master.create_file("d/new", MiB)
        assert client.namespace.find("d/new") is None
        stats = client.refresh()
        assert (stats.entries, stats.new_files) == (1, 1)
        assert client.namespace.find("d/new") is not None
        assert client.refresh().entries == 0
    finally:
        client.close()


def test_a_bad_system_uuid_is_a_clear_error(fs_image: str, cli) -> None:
    proc = cli("mkdir", f"{fs_image}:e", env={"FAMFS_SYSTEM_UUID": "not-a-uuid"})
    assert proc.returncode == 1 and "not a UUID" in proc.stderr
