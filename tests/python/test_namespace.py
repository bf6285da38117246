"""famfs.listdir, scandir, stat, walk and mkdir on DEVICE:PATH: what they show, and what the
file modes hide from a real user."""

from __future__ import annotations

import stat as st

import pytest
from python_helpers import put, share_with

import famfs
from famfs.errors import AccessError, ExistsError, NotFoundError, RoleError, UsageError


@pytest.fixture
def tree(fs):
    fs.mkdir("data/raw", parents=True)
    put(fs, "data/raw/a.bin", b"a" * 100)
    put(fs, "data/b.bin", b"b" * 5000)
    put(fs, "top", b"t")
    return fs


def test_listdir_names_a_directorys_entries_sorted(tree):
    assert famfs.listdir(f"{tree.path}:") == ["data", "top"]
    assert famfs.listdir(f"{tree.path}:data") == ["b.bin", "raw"]


def test_stat_gives_type_size_mode_and_owner(tree):
    info = famfs.stat(f"{tree.path}:data/b.bin")
    assert info.is_file() and info.st_size == 5000 and st.S_IMODE(info.st_mode) == 0o644
    assert famfs.stat(f"{tree.path}:data").is_dir()
    with pytest.raises(FileNotFoundError):
        famfs.stat(f"{tree.path}:data/none")


def test_listdir_of_a_file_is_not_a_directory_error(tree):
    with pytest.raises(NotADirectoryError):
        famfs.listdir(f"{tree.path}:top")


def test_walk_visits_every_directory_top_down(tree):
    seen = list(famfs.walk(f"{tree.path}:"))
    assert seen == [(f"{tree.path}:", ["data"], ["top"]),
                    (f"{tree.path}:data", ["raw"], ["b.bin"]),
                    (f"{tree.path}:data/raw", [], ["a.bin"])]


def test_listdir_sees_files_another_process_logged_since(tree, image):
    famfs.listdir(f"{image}:")
    from famfs.fs.filesystem import Filesystem

    with Filesystem(image, writable=True) as other:
        put(other, "later", b"l")
    assert "later" in famfs.listdir(f"{image}:")


def test_mkdir_makes_a_directory_with_the_umask_applied(fs, image):
    made = famfs.mkdir(f"{image}:new", mode=0o777)
    assert made.is_dir() and st.S_IMODE(made.st_mode) == 0o777 & ~famfs.api.umask()
    assert "new" in famfs.listdir(f"{image}:")


def test_mkdir_without_parents_refuses_missing_parents_and_existing_names(fs, image):
    with pytest.raises(NotFoundError):
        famfs.mkdir(f"{image}:a/b")
    famfs.mkdir(f"{image}:a/b", parents=True)
    with pytest.raises(ExistsError):
        famfs.mkdir(f"{image}:a")
    famfs.mkdir(f"{image}:a", parents=True)


def test_mkdir_refuses_the_meta_name(fs, image):
    with pytest.raises(UsageError, match="reserved"):
        famfs.mkdir(f"{image}:.meta")


def test_mkdir_on_a_client_is_a_role_error(fs, image, as_client):
    as_client()
    with pytest.raises(RoleError, match="only its master"):
        famfs.mkdir(f"{image}:nope")
    assert "nope" not in famfs.listdir(f"{image}:")


def test_a_private_directory_is_not_listed_or_walked_for_another_user(fs, image, user):
    fs.mkdir("private", mode=0o700)
    put(fs, "private/secret-name", b"x")
    put(fs, "public", b"p")
    share_with(image, user)
    with pytest.raises(AccessError, match="permission denied"):
        user.run(famfs.listdir, f"{image}:private")
    with pytest.raises(AccessError, match="may not search directory private"):
        user.run(famfs.stat, f"{image}:private/secret-name")
    walked = user.run(lambda: list(famfs.walk(f"{image}:")))
    assert walked == [(f"{image}:", ["private"], ["public"])]


def test_a_user_may_not_make_a_directory_in_roots_directory(fs, image, user):
    share_with(image, user)
    with pytest.raises(AccessError, match="permission denied"):
        user.run(famfs.mkdir, f"{image}:theirs")
    fs.mkdir("open", mode=0o777)
    made = user.run(famfs.mkdir, f"{image}:open/theirs")
    assert (made.st_uid, made.st_gid) == (user.uid, user.gid)
