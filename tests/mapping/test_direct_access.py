"""famfs.open: reads, writes and the zero-copy contiguous view of famfs files."""

from __future__ import annotations

import gc
import io
import os
import uuid

import numpy as np
import pytest
from mapping_helpers import AU, INTERLEAVE, BlobTransport, interleave_blob

import famfs
import famfs.api
from famfs.access import VIEW_ALIGN, open_on, release_connections
from famfs.errors import NotFoundError, UsageError
from famfs.fs.filesystem import Filesystem
from famfs.mapping.client import Connection
from famfs.mapping.files import read_file, write_file
from famfs.omf.layout import FILE_FLAG_ALL_HOSTS_RO, MiB
from famfs.omf.log import FileEntry


@pytest.fixture(autouse=True)
def fresh_connections():
    yield
    gc.collect()
    release_connections()


@pytest.fixture
def files(fs):
    """Two files with random contents: 'plain' (simple, odd size) and 'striped' (interleaved)."""
    out = {}
    for name, size, il in [("plain", 5 * MiB + 123, None), ("striped", 20 * MiB + 7, INTERLEAVE)]:
        node = fs.create_file(name, size, interleave=il)
        data = os.urandom(size)
        write_file(fs, node, 0, data)
        out[name] = data
    return out


@pytest.mark.parametrize("name", ["plain", "striped"])
def test_read_returns_the_file_bytes(fs, files, name):
    with famfs.open(f"{fs.path}:{name}") as f:
        assert f.read() == files[name]


@pytest.mark.parametrize("name", ["plain", "striped"])
def test_view_is_the_whole_file_contiguous(fs, files, name):
    with famfs.open(f"{fs.path}:{name}") as f:
        view = f.view()
        assert len(view) == len(files[name])
        assert bytes(view) == files[name]
        view.release()


def test_view_starts_on_a_2mib_boundary_and_is_read_only(fs, files):
    with famfs.open(f"{fs.path}:striped") as f:
        arr = f.array()
        assert arr.ctypes.data % VIEW_ALIGN == 0
        assert not arr.flags.writeable
        with pytest.raises(TypeError):
            f.view()[0] = 1
        del arr


def test_view_shares_memory_with_the_device(fs, files):
    node = fs.file("plain")
    with famfs.open(f"{fs.path}:plain") as f:
        arr = f.array()
        write_file(fs, node, 4096, b"\xaa" * 16)
        assert arr[4096:4112].tobytes() == b"\xaa" * 16
        del arr


def test_array_has_the_requested_dtype_and_shape(fs, files):
    with famfs.open(f"{fs.path}:striped") as f:
        arr = f.array(np.uint32, (1000, 4), offset=8)
        expect = np.frombuffer(files["striped"], np.uint32, 4000, offset=8).reshape(1000, 4)
        assert arr.shape == (1000, 4) and np.array_equal(arr, expect)
        del arr
        with pytest.raises(UsageError, match="do not fit"):
            f.array(np.uint64, 3 * MiB)


def test_readinto_seek_and_tell(fs, files):
    data = files["striped"]
    with famfs.open(f"{fs.path}:striped") as f:
        f.seek(2 * MiB - 10)
        buf = bytearray(30)
        assert f.readinto(buf) == 30 and bytes(buf) == data[2 * MiB - 10:2 * MiB + 20]
        assert f.tell() == 2 * MiB + 20
        assert f.seek(-5, io.SEEK_END) == len(data) - 5
        assert f.read(100) == data[-5:]
        assert f.read(100) == b""


def _mapped(addr: int) -> bool:
    """Whether `addr` lies in a mapping of this process (/proc/self/maps)."""
    with open("/proc/self/maps") as fh:
        for line in fh:
            start, end = (int(x, 16) for x in line.split()[0].split("-"))
            if start <= addr < end:
                return True
    return False


def test_closing_with_live_views_keeps_them_valid(fs, files):
    f = famfs.open(f"{fs.path}:plain")
    view = f.view()
    part = view[10:20]
    arr = f.array(np.uint8)
    f.close()
    assert f.closed
    assert bytes(part) == files["plain"][10:20]
    assert arr[-3:].tobytes() == files["plain"][-3:]
    assert bytes(view[:5]) == files["plain"][:5]


def test_leaving_the_with_block_while_an_npy_array_lives_does_not_raise(fs):
    data = np.arange(1000, dtype=np.float64)
    header = famfs.api.npy_header(data)
    node = fs.create_file("a.npy", len(header) + data.nbytes)
    write_file(fs, node, 0, header + data.tobytes())
    with famfs.open(f"{fs.path}:a.npy") as f:
        a = f.npy_array()
    assert np.array_equal(a, data)


def test_a_users_exception_in_the_block_is_not_chained_onto(fs, files):
    with pytest.raises(KeyError) as caught:
        with famfs.open(f"{fs.path}:plain") as f:
            arr = f.array()
            raise KeyError("the user's own")
    assert caught.value.__context__ is None and caught.value.__cause__ is None
    assert arr[0] == files["plain"][0]


def test_the_mapping_goes_when_the_last_view_goes(fs, files):
    with famfs.open(f"{fs.path}:plain") as f:
        arr = f.array()
    addr = arr.ctypes.data
    view = memoryview(arr)
    release_connections()
    gc.collect()
    assert _mapped(addr)
    del arr
    gc.collect()
    assert _mapped(addr)
    view.release()
    del view
    gc.collect()
    assert not _mapped(addr)


def test_a_view_outlives_its_dropped_file_object(fs, files):
    f = famfs.open(f"{fs.path}:plain")
    arr = f.array()
    del f
    gc.collect()
    assert arr[-10:].tobytes() == files["plain"][-10:]


def test_write_on_the_master_is_clipped_to_the_file_size(fs, files):
    with famfs.open(f"{fs.path}:plain", "r+b") as f:
        f.seek(-4, io.SEEK_END)
        assert f.write(b"12345678") == 4
        assert f.tell() == len(files["plain"])
    assert read_file(fs, fs.file("plain"), len(files["plain"]) - 4, 100) == b"1234"


def test_writable_view_writes_the_file(fs, files):
    with famfs.open(f"{fs.path}:striped", "r+b") as f:
        arr = f.array(np.uint8)
        assert arr.flags.writeable
        arr[2 * MiB:2 * MiB + 3] = [1, 2, 3]
        del arr
    assert read_file(fs, fs.file("striped"), 2 * MiB, 3) == b"\x01\x02\x03"


def test_read_only_open_refuses_writes(fs, files):
    with famfs.open(f"{fs.path}:plain") as f:
        with pytest.raises(UsageError, match="read-only"):
            f.write(b"x")


def test_a_client_may_not_write_a_read_only_file(fs, monkeypatch):
    with fs.device.append_lock():
        fmap = fs.allocator.alloc_contiguous(MiB)
        fs.log.append([FileEntry("ro", MiB, fmap, flags=FILE_FLAG_ALL_HOSTS_RO)])
    monkeypatch.setenv("FAMFS_SYSTEM_UUID", str(uuid.uuid4()))
    monkeypatch.delenv("FAMFS_SYSTEM_UUID_FILE")
    with pytest.raises(PermissionError, match="read-only for all hosts"):
        famfs.open(f"{fs.path}:ro", "r+b")
    with famfs.open(f"{fs.path}:ro") as f:
        assert len(f.read()) == MiB


def test_a_file_logged_after_the_first_open_is_found(fs, files):
    with famfs.open(f"{fs.path}:plain"):
        pass
    with Filesystem(fs.path, writable=True) as other:
        other.create_file("later", MiB)
    with famfs.open(f"{fs.path}:later") as f:
        assert f.size == MiB


def test_missing_file_root_and_bad_mode_are_errors(fs, files):
    with pytest.raises(NotFoundError):
        famfs.open(f"{fs.path}:nope")
    with pytest.raises(IsADirectoryError, match="root"):
        famfs.open(f"{fs.path}:")
    with pytest.raises(UsageError, match="mode"):
        famfs.open(f"{fs.path}:plain", "wb")


def test_interleaved_file_across_two_devices(tmp_path):
    dev0, dev1 = tmp_path / "dev0.img", tmp_path / "dev1.img"
    chunks = [os.urandom(AU) for _ in range(5)]
    raw0, raw1 = bytearray(16 * AU), bytearray(16 * AU)
    raw0[3 * AU:4 * AU], raw1[7 * AU:8 * AU], raw0[4 * AU:5 * AU] = chunks[0], chunks[1], chunks[2]
    raw1[8 * AU:9 * AU], raw0[5 * AU:6 * AU] = chunks[3], chunks[4]
    dev0.write_bytes(raw0)
    dev1.write_bytes(raw1)
    size = 4 * AU + 99
    blob = interleave_blob(AU, [(0, 3 * AU, 4 * AU), (1, 7 * AU, 4 * AU)], size)
    conn = Connection(BlobTransport({"f": blob}, {0: str(dev0), 1: str(dev1)}))
    with open_on(conn, "f") as f:
        assert f.read() == b"".join(chunks)[:size]
        view = f.view()
        assert bytes(view) == b"".join(chunks)[:size]
        view.release()
    assert conn.round_trips.daxdev == 2


def test_flush_after_writing_through_a_view_keeps_the_data(fs, files):
    with famfs.open(f"{fs.path}:plain", "r+b") as f:
        arr = f.array(np.uint8)
        arr[:4] = [9, 8, 7, 6]
        f.flush()
        del arr
    assert read_file(fs, fs.file("plain"), 0, 4) == b"\x09\x08\x07\x06"
