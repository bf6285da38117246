"""famfs.create and famfs.save: files filled in place and logged only when committed, data
before metadata; an exception (or a dropped writer) logs nothing and frees the space."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from python_helpers import share_with

import famfs
from famfs.errors import AccessError, ExistsError, NotFoundError, RoleError, UsageError
from famfs.fs.filesystem import Filesystem
from famfs.omf.layout import MiB


def logged(image: str, relpath: str) -> bool:
    """Whether a fresh replay of the log (another process's view) lists `relpath`."""
    with Filesystem(image) as fs:
        return fs.namespace.find(relpath) is not None


def test_a_file_filled_in_place_is_logged_when_the_block_ends(image):
    with famfs.create(f"{image}:a.f32", 4 * MiB) as f:
        arr = f.array(np.float32)
        arr[:] = np.arange(MiB, dtype=np.float32)
        assert not logged(image, "a.f32")
    assert logged(image, "a.f32")
    with famfs.open(f"{image}:a.f32") as f:
        assert np.array_equal(f.array(np.float32), np.arange(MiB, dtype=np.float32))


def test_the_producers_array_is_the_files_memory_not_a_buffer(image):
    with famfs.create(f"{image}:x", MiB) as f:
        arr = f.array(np.uint8)
        view = f.view()
        assert arr.ctypes.data == np.frombuffer(view, np.uint8).ctypes.data
        assert not arr.flags.owndata and arr.flags.writeable
        arr[:4] = [1, 2, 3, 4]
        assert bytes(view[:4]) == b"\x01\x02\x03\x04"
        view.release()
        del arr


def test_an_exception_in_the_block_logs_nothing_and_frees_the_space(image):
    with pytest.raises(ZeroDivisionError), famfs.create(f"{image}:bad", 64 * MiB) as f:
        f.array(np.uint8)[:10] = 1
        raise ZeroDivisionError("the producer failed")
    assert not logged(image, "bad")
    with famfs.create(f"{image}:next", 64 * MiB):
        pass
    with Filesystem(image) as fs:
        assert fs.file("next").entry.fmap.all_extents()[0].offset == fs.data_start


def test_the_users_exception_is_not_chained_onto(image):
    with pytest.raises(KeyError) as caught, famfs.create(f"{image}:k", MiB) as f:
        arr = f.array()
        raise KeyError("mine")
    assert caught.value.__context__ is None
    assert arr.size == MiB


def test_a_dropped_writer_logs_nothing(image):
    f = famfs.create(f"{image}:dropped", MiB)
    f.array()[:] = 9
    del f
    gc.collect()
    assert not logged(image, "dropped")


def test_close_commits_and_abort_does_not(image):
    f = famfs.create(f"{image}:c", MiB)
    f.write(b"closing commits")
    f.close()
    assert logged(image, "c")
    g = famfs.create(f"{image}:a", MiB)
    g.abort()
    g.close()
    assert not logged(image, "a")


def test_views_outlive_the_commit(image):
    with famfs.create(f"{image}:v", MiB) as f:
        arr = f.array(np.uint32)
        arr[:] = 5
    assert arr[-1] == 5 and famfs.open(f"{image}:v").array(np.uint32)[-1] == 5


def test_a_killed_producer_leaves_no_entry_and_its_space_free(image):
    script = textwrap.dedent(f"""
        import os, signal, famfs
        f = famfs.create({image + ':killed'!r}, 8 << 20)
        f.array()[:] = 1
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert proc.returncode == -9
    assert not logged(image, "killed")
    with famfs.create(f"{image}:after", 8 << 20):
        pass
    with Filesystem(image) as fs:
        first = min(e.offset for e in fs.file("after").entry.fmap.all_extents())
        assert first == fs.data_start


def test_an_interleaved_file_is_striped_and_filled_in_place(image):
    with famfs.create(f"{image}:striped", 16 * MiB, nstrips=4, chunk=2 * MiB) as f:
        f.array(np.uint64)[:] = np.arange(2 * MiB, dtype=np.uint64)
    with Filesystem(image) as fs:
        assert fs.file("striped").entry.fmap.interleave is not None
    assert np.array_equal(famfs.open(f"{image}:striped").array(np.uint64),
                          np.arange(2 * MiB, dtype=np.uint64))


def test_bad_arguments_are_refused_naming_the_problem(image):
    with pytest.raises(UsageError, match="size"):
        famfs.create(f"{image}:z", 0)
    with pytest.raises(UsageError, match="nstrips"):
        famfs.create(f"{image}:z", MiB, chunk=2 * MiB)
    with pytest.raises(UsageError, match="reserved"):
        famfs.create(f"{image}:.meta", MiB)
    with pytest.raises(NotFoundError):
        famfs.create(f"{image}:no/dir/f", MiB)
    with famfs.create(f"{image}:once", MiB):
        pass
    with pytest.raises(ExistsError):
        famfs.create(f"{image}:once", MiB)


def test_create_on_a_client_is_a_role_error(image, as_client):
    as_client()
    with pytest.raises(RoleError, match="only its master"):
        famfs.create(f"{image}:c", MiB)


def test_a_user_may_create_only_where_the_directory_mode_allows(image, fs, user):
    share_with(image, user)
    with pytest.raises(AccessError, match="permission denied"):
        user.run(famfs.create, f"{image}:theirs", MiB)
    fs.mkdir("open", mode=0o777)

    def make() -> tuple[int, int]:
        with famfs.create(f"{image}:open/theirs", MiB, mode=0o600):
            pass
        info = famfs.stat(f"{image}:open/theirs")
        return info.st_uid, info.st_mode & 0o777

    assert user.run(make) == (user.uid, 0o600)


@pytest.mark.parametrize("array", [
    np.arange(24, dtype="<f8").reshape(2, 3, 4),
    np.asfortranarray(np.arange(24, dtype=">i4").reshape(4, 6)),
    np.array([(1, 2.5), (3, 4.5)], dtype=[("a", "<i2"), ("b", "<f4")]),
    np.zeros((0, 3), dtype=np.uint8),
    np.float32(7.0),
])
def test_save_then_load_gives_back_the_array_as_a_view(image, array):
    famfs.save(f"{image}:a.npy", array)
    got = famfs.load(f"{image}:a.npy")
    assert got.dtype == np.asarray(array).dtype and np.array_equal(got, array)
    assert not got.flags.owndata and not got.flags.writeable


def test_a_saved_file_is_what_np_save_writes(image, tmp_path):
    array = np.random.default_rng(1).standard_normal((50, 7)).astype(np.float32)
    famfs.save(f"{image}:w.npy", array)
    np.save(tmp_path / "w.npy", array)
    with famfs.open(f"{image}:w.npy") as f:
        assert f.read() == (tmp_path / "w.npy").read_bytes()


def test_save_refuses_object_arrays(image):
    with pytest.raises(UsageError, match="objects"):
        famfs.save(f"{image}:o.npy", np.array([{}], dtype=object))
    assert not logged(image, "o.npy")


def test_load_writable_gives_a_writable_view_on_the_master(image):
    famfs.save(f"{image}:w.npy", np.zeros(10))
    arr = famfs.load(f"{image}:w.npy", writable=True)
    arr[3] = 1.0
    assert famfs.load(f"{image}:w.npy")[3] == 1.0
