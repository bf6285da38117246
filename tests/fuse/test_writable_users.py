"""Who makes what through a master's mount: a real throw-away user runs real commands.

The kernel checks the directory's modes before it asks the server (default_permissions); the
server logs each new name with the creating user's uid and gid (a set-group-ID directory gives
its group instead, as on other filesystems).
"""

from __future__ import annotations

import os
import stat

import pytest
from test_permissions import PYTHON, reachable_mount, stranger  # noqa: F401

from conftest import wait_for
from famfs.fs.filesystem import Filesystem
from famfs.fs.mkfs import mkfs
from famfs.fs.namespace import Directory, File
from famfs.omf.layout import MiB

pytestmark = pytest.mark.fuse


@pytest.fixture
def mp(image_path, mounter, public_dir) -> str:
    mkfs(image_path, size=64 * MiB)
    mp = reachable_mount(mounter, image_path, public_dir)
    old = os.umask(0)
    try:
        os.mkdir(os.path.join(mp, "public"), 0o777)
        os.mkdir(os.path.join(mp, "shared"), 0o777)
    finally:
        os.umask(old)
    os.chmod(os.path.join(mp, "shared"), 0o2777)  # mkdir(2) never sets S_ISGID itself
    return mp


def node(mp: str, relpath: str) -> File | Directory | None:
    device = next(src for src, target in _mounts() if target == os.path.realpath(mp))
    with Filesystem(device) as fs:
        found = fs.namespace.find(relpath)
        return found if isinstance(found, File | Directory) else None


def _mounts() -> list[tuple[str, str]]:
    from famfs.fs.mounts import famfs_mounts
    return famfs_mounts()


def test_a_file_a_user_makes_is_logged_with_their_uid_and_group(mp, stranger):  # noqa: F811
    path = os.path.join(mp, "public", "mine.txt")
    proc = stranger.run(PYTHON, "-c", f"open({path!r}, 'w').write('by a user')")
    assert proc.returncode == 0, proc.stderr
    st = os.stat(path)
    assert st.st_uid == stranger.uid and st.st_gid != 0
    assert wait_for(lambda: isinstance(node(mp, "public/mine.txt"), File), 5.0)
    logged = node(mp, "public/mine.txt")
    assert logged is not None and (logged.uid, logged.gid) == (st.st_uid, st.st_gid)
    assert logged.mode == 0o644  # 0666 with the user's umask 022


def test_a_user_cannot_make_names_where_the_directory_mode_denies_it(mp, stranger):  # noqa: F811
    assert stranger.errno_of(f"open({os.path.join(mp, 'nope')!r}, 'w')") == "EACCES"
    assert stranger.errno_of(f"os.mkdir({os.path.join(mp, 'nope')!r})") == "EACCES"
    assert node(mp, "nope") is None


def test_a_set_group_id_directory_gives_new_names_its_group(mp, stranger):  # noqa: F811
    base = os.path.join(mp, "shared")
    code = (f"import os; open({os.path.join(base, 'f')!r}, 'w').close(); "
            f"os.mkdir({os.path.join(base, 'd')!r})")
    proc = stranger.run(PYTHON, "-c", code)
    assert proc.returncode == 0, proc.stderr
    f, d = os.stat(os.path.join(base, "f")), os.stat(os.path.join(base, "d"))
    assert (f.st_uid, f.st_gid) == (stranger.uid, 0)
    assert (d.st_uid, d.st_gid) == (stranger.uid, 0) and d.st_mode & stat.S_ISGID
    logged = node(mp, "shared/d")
    assert isinstance(logged, Directory) and logged.gid == 0 and logged.mode & stat.S_ISGID
