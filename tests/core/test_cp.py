"""`famfs cp`: copy local files into famfs, file by file or whole trees."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from famfs.fs.filesystem import Filesystem
from famfs.fs.mkfs import mkfs
from famfs.fs.namespace import Directory, File
from famfs.mapping.files import read_file

MiB = 1 << 20


@pytest.fixture
def image(image_path: str) -> str:
    mkfs(image_path, size=256 * MiB)
    return image_path


def famfs_bytes(image: str, relpath: str) -> bytes:
    with Filesystem(image) as fs:
        node = fs.file(relpath)
        return read_file(fs, node, 0, node.size)


def image_digest(image: str) -> str:
    with open(image, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def make_tree(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def test_cp_copies_a_file_byte_for_byte(cli, image: str, tmp_path: Path) -> None:
    src = tmp_path / "data"
    src.write_bytes(os.urandom(3 * MiB + 17))
    proc = cli("cp", str(src), f"{image}:copy")
    assert proc.returncode == 0, proc.stderr
    assert famfs_bytes(image, "copy") == src.read_bytes()


def test_cp_keeps_the_source_permission_bits_by_default(cli, image: str,
                                                        tmp_path: Path) -> None:
    src = tmp_path / "s"
    src.write_bytes(b"x" * 10)
    src.chmod(0o751)
    cli("cp", str(src), f"{image}:s", check=True)
    with Filesystem(image) as fs:
        assert fs.file("s").mode == 0o751


def test_cp_mode_uid_gid_options_are_recorded(cli, image: str, tmp_path: Path) -> None:
    src = tmp_path / "s"
    src.write_bytes(b"x" * 10)
    cli("cp", "-m", "0600", "-u", "12", "-g", "34", str(src), f"{image}:s", check=True)
    with Filesystem(image) as fs:
        node = fs.file("s")
        assert (node.mode, node.uid, node.gid) == (0o600, 12, 34)


def test_cp_into_a_directory_keeps_the_name(cli, image: str, tmp_path: Path) -> None:
    src = tmp_path / "named"
    src.write_bytes(b"abc")
    with Filesystem(image, writable=True) as fs:
        fs.mkdir("dir")
    cli("cp", str(src), f"{image}:dir", check=True)
    assert famfs_bytes(image, "dir/named") == b"abc"


def test_cp_several_sources_need_a_directory_destination(cli, image: str,
                                                         tmp_path: Path) -> None:
    make_tree(tmp_path, {"a": b"1", "b": b"2"})
    proc = cli("cp", str(tmp_path / "a"), str(tmp_path / "b"), f"{image}:nodir")
    assert proc.returncode != 0 and "nodir" in proc.stderr
    with Filesystem(image, writable=True) as fs:
        fs.mkdir("d")
    cli("cp", str(tmp_path / "a"), str(tmp_path / "b"), f"{image}:d", check=True)
    assert famfs_bytes(image, "d/a") == b"1" and famfs_bytes(image, "d/b") == b"2"


def test_cp_recursive_copies_the_tree_contents_into_dest(cli, image: str,
                                                         tmp_path: Path) -> None:
    files = {"top": b"t" * 100, "sub/one": os.urandom(5000), "sub/deeper/two": b"2" * 7}
    make_tree(tmp_path / "src", files)
    proc = cli("cp", "-r", str(tmp_path / "src"), f"{image}:dest")
    assert proc.returncode == 0, proc.stderr
    with Filesystem(image) as fs:
        assert isinstance(fs.lookup("dest/sub/deeper"), Directory)
    for rel, data in files.items():
        assert famfs_bytes(image, f"dest/{rel}") == data


def test_cp_skips_empty_files_devices_and_dirs_without_r_but_copies_the_rest(
        cli, image: str, tmp_path: Path) -> None:
    make_tree(tmp_path, {"good": b"good data", "empty": b"", "adir/inner": b"i"})
    proc = cli("cp", str(tmp_path / "good"), str(tmp_path / "empty"), "/dev/null",
               str(tmp_path / "adir"), f"{image}:")
    assert proc.returncode != 0
    for name in ("empty", "/dev/null", "adir"):
        assert name in proc.stderr
    assert "Traceback" not in proc.stderr
    assert famfs_bytes(image, "good") == b"good data"
    with Filesystem(image) as fs:
        assert fs.namespace.find("empty") is None and fs.namespace.find("adir") is None


def test_cp_overwrites_a_destination_of_the_same_size(cli, image: str,
                                                      tmp_path: Path) -> None:
    src = tmp_path / "f"
    src.write_bytes(b"A" * 4096)
    cli("cp", str(src), f"{image}:f", check=True)
    src.write_bytes(b"B" * 4096)
    proc = cli("cp", str(src), f"{image}:f")
    assert proc.returncode == 0, proc.stderr
    assert famfs_bytes(image, "f") == b"B" * 4096
    with Filesystem(image) as fs:
        assert fs.log.header().next_index == 1


def test_cp_refuses_a_destination_of_another_size(cli, image: str, tmp_path: Path) -> None:
    src = tmp_path / "f"
    src.write_bytes(b"A" * 4096)
    cli("cp", str(src), f"{image}:f", check=True)
    src.write_bytes(b"B" * 5000)
    proc = cli("cp", str(src), f"{image}:f")
    assert proc.returncode != 0 and "size" in proc.stderr
    assert famfs_bytes(image, "f") == b"A" * 4096


def test_cp_compare_passes_for_a_good_copy(cli, image: str, tmp_path: Path) -> None:
    src = tmp_path / "f"
    src.write_bytes(os.urandom(100_000))
    cli("cp", str(src), f"{image}:f", check=True)
    proc = cli("cp", "-c", str(src), f"{image}:f")
    assert proc.returncode == 0, proc.stderr


def test_cp_recursive_reports_a_too_long_path_and_copies_the_rest(cli, image: str,
                                                                  tmp_path: Path) -> None:
    deep = "/".join(["d" * 20] * 4)  # 83 bytes once under dest/
    make_tree(tmp_path / "src", {f"{deep}/f": b"far", "near": b"near"})
    proc = cli("cp", "-r", str(tmp_path / "src"), f"{image}:dest")
    assert proc.returncode != 0
    assert "79" in proc.stderr and "d" * 20 in proc.stderr
    assert "Traceback" not in proc.stderr
    assert famfs_bytes(image, "dest/near") == b"near"


def test_cp_on_a_client_is_refused_and_changes_nothing(cli, image: str,
                                                       tmp_path: Path) -> None:
    src = tmp_path / "f"
    src.write_bytes(b"data")
    digest = image_digest(image)
    proc = cli("cp", str(src), f"{image}:f", env={"FAMFS_SYSTEM_UUID": str(uuid.uuid4())})
    assert proc.returncode != 0
    assert "client" in proc.stderr and "Traceback" not in proc.stderr
    assert image_digest(image) == digest


def test_concurrent_cp_processes_never_share_space(image: str, tmp_path: Path) -> None:
    trees = []
    for t in range(4):
        files = {f"f{i}": os.urandom(1000 + 97 * i + t) for i in range(12)}
        make_tree(tmp_path / f"src{t}", files)
        trees.append(files)
    procs = [subprocess.Popen([sys.executable, "-m", "famfs", "cp", "-r",
                               str(tmp_path / f"src{t}"), f"{image}:t{t}"],
                              stderr=subprocess.PIPE, text=True) for t in range(4)]
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    with Filesystem(image) as fs:
        assert fs.collisions == []
        offsets = [fs.file(f"t{t}/{name}").entry.fmap.extents[0].offset
                   for t, files in enumerate(trees) for name in files]
        assert len(set(offsets)) == len(offsets)
        for t, files in enumerate(trees):
            for name, data in files.items():
                node = fs.file(f"t{t}/{name}")
                assert isinstance(node, File) and read_file(fs, node, 0, node.size) == data


def test_cp_copies_a_thousand_file_tree(cli, image: str,
                                                         tmp_path: Path) -> None:
    make_tree(tmp_path / "src", {f"d{i % 10}/f{i}": b"%d" % i for i in range(1000)})
    mkfs(image, size=2560 * MiB, force=True)
    proc = cli("cp", "-r", str(tmp_path / "src"), f"{image}:many")
    assert proc.returncode == 0, proc.stderr
    with Filesystem(image) as fs:
        assert fs.namespace.files == 1000
        assert read_file(fs, fs.file("many/d7/f417"), 0, 3) == b"417"


def test_cp_with_threads_copies_every_file(cli, image: str, tmp_path: Path) -> None:
    files = {f"f{i}": os.urandom(10_000 + i) for i in range(20)}
    make_tree(tmp_path / "src", files)
    proc = cli("cp", "-r", "-t", "4", str(tmp_path / "src"), f"{image}:t")
    assert proc.returncode == 0, proc.stderr
    assert cli("cp", "-r", "-c", str(tmp_path / "src"), f"{image}:t").returncode == 0
    for name, data in files.items():
        assert famfs_bytes(image, f"t/{name}") == data


def test_cp_interleaved_copies_across_strips(cli, image: str, tmp_path: Path) -> None:
    src = tmp_path / "wide"
    src.write_bytes(os.urandom(9 * MiB + 5))
    proc = cli("cp", "-N", "2", "-B", "4", "-C", "2m", str(src), f"{image}:wide")
    assert proc.returncode == 0, proc.stderr
    with Filesystem(image) as fs:
        assert fs.file("wide").entry.fmap.interleave is not None
    assert famfs_bytes(image, "wide") == src.read_bytes()


def test_cp_to_a_path_outside_famfs_fails_clearly(cli, tmp_path: Path) -> None:
    src = tmp_path / "f"
    src.write_bytes(b"x")
    proc = cli("cp", str(src), str(tmp_path / "elsewhere"))
    assert proc.returncode != 0
    assert "DEVICE:PATH" in proc.stderr and "Traceback" not in proc.stderr


def test_short_and_long_runs_are_copied_whole(image: str, tmp_path: Path) -> None:
    """Runs up to SHORT_RUN go to the image with pwrite, longer ones through the mapping;
    either way every byte arrives, in files of one extent and of several."""
    from famfs.fs.copy import SHORT_RUN, plan_copy, run_copy
    from famfs.mapping.files import file_runs

    sizes = {"tiny": 1, "page": 4096, "edge": SHORT_RUN, "over": SHORT_RUN + 1,
             "big": 3 * MiB + 5}
    tree = tmp_path / "tree"
    make_tree(tree, {name: os.urandom(size) for name, size in sizes.items()})
    with Filesystem(image, writable=True) as fs:
        plan = plan_copy(fs, [str(tree)], "t", recursive=True)
        result = run_copy(fs, plan, 0, 0, runs_of=file_runs)
        assert result.errors == [] and len(result.copied) == len(sizes)
    for name in sizes:
        assert famfs_bytes(image, f"t/{name}") == (tree / name).read_bytes()


def test_a_source_shorter_than_planned_fails_on_either_path(image: str, tmp_path: Path
                                                             ) -> None:
    from famfs.errors import FamfsError
    from famfs.fs.copy import SHORT_RUN, copy_data
    from famfs.fs.filesystem import NewFile
    from famfs.mapping.files import file_runs

    src = tmp_path / "src"
    with Filesystem(image, writable=True) as fs:
        for size in (4096, SHORT_RUN + 4096):
            src.write_bytes(b"x" * (size - 100))
            with fs.reserve([NewFile(f"f{size}", size)]) as reservation:
                node = reservation.files[0]
                with pytest.raises(FamfsError, match="ended at"):
                    copy_data(file_runs(fs, node), node, str(src))


def test_file_runs_are_the_spans_of_the_mapping_layer(image: str) -> None:
    """The runs cut straight from a simple map are the spans its mapping format resolves."""
    from famfs.alloc import InterleaveParams
    from famfs.fs.filesystem import NewFile
    from famfs.mapping.files import file_pieces, file_runs, mapped_of

    with Filesystem(image, writable=True) as fs:
        fs.create_files([NewFile("one", 5 * MiB + 3),
                         NewFile("striped", 9 * MiB, interleave=InterleaveParams(
                             nbuckets=4, nstrips=2, chunk_size=2 * MiB))])
        for name in ("one", "striped"):
            node = fs.file(name)
            for offset, length in ((0, None), (1, 7), (2 * MiB - 1, 3 * MiB), (5 * MiB, None)):
                runs = file_runs(fs, node, offset, length)
                spans = mapped_of(node).spans(offset, length)
                assert [(off, device is fs.devices.device(0), addr, n)
                        for off, device, addr, n in runs] == \
                    [(m.offset, m.dev == 0, m.addr, m.length) for m in spans]
                assert [(off, len(view)) for off, view in file_pieces(fs, node, offset,
                                                                      length)] == \
                    [(off, n) for off, _, _, n in runs]
