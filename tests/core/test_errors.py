"""famfs errors are OSErrors with an errno, catchable as the matching built-in."""

from __future__ import annotations

import errno
import pickle

import pytest

import famfs
from famfs.errors import (
    CorruptError,
    ExistsError,
    FamfsError,
    IsDirectoryError,
    NotDirectoryError,
    NotFoundError,
    PathError,
    RoleError,
)
from famfs.fs.filesystem import Filesystem
from famfs.fs.mkfs import mkfs
from famfs.omf.layout import MiB


@pytest.mark.parametrize(("cls", "builtin", "code"), [
    (NotFoundError, FileNotFoundError, errno.ENOENT),
    (ExistsError, FileExistsError, errno.EEXIST),
    (RoleError, PermissionError, errno.EPERM),
    (IsDirectoryError, IsADirectoryError, errno.EISDIR),
    (NotDirectoryError, NotADirectoryError, errno.ENOTDIR),
])
def test_error_is_the_matching_builtin_oserror(cls: type[FamfsError], builtin: type[OSError],
                                               code: int) -> None:
    exc = cls("x: what went wrong")
    assert isinstance(exc, builtin)
    assert isinstance(exc, OSError)
    assert exc.errno == code


def test_error_prints_its_message_alone() -> None:
    exc = NotFoundError("dir/file: no such file or directory")
    assert str(exc) == "dir/file: no such file or directory"
    assert exc.strerror == str(exc)


def test_not_a_directory_is_still_a_path_error() -> None:
    assert isinstance(NotDirectoryError("a/b: a is a file"), PathError)


def test_errors_survive_pickling_with_class_errno_and_fields() -> None:
    exc = CorruptError("log entry", "crc", "stored 0x1, computed 0x2", 7).on_device("/img")
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is CorruptError
    assert (back.errno, str(back), back.index, back.field) == (
        errno.EUCLEAN, str(exc), 7, "crc")


def test_missing_famfs_file_is_a_file_not_found_error(image_path: str) -> None:
    mkfs(image_path, size=64 * MiB)
    with pytest.raises(FileNotFoundError):
        famfs.open(f"{image_path}:no/such/file")


def test_opening_a_directory_as_a_file_is_an_is_a_directory_error(image_path: str) -> None:
    mkfs(image_path, size=64 * MiB)
    with Filesystem(image_path, writable=True) as fs:
        fs.mkdir("d")
    with pytest.raises(IsADirectoryError):
        famfs.open(f"{image_path}:d")
