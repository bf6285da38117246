"""famfs logplay: counts, shadow trees (YAML), dry runs."""

from __future__ import annotations

import os
import shutil
import stat
import time
import zlib
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from set_a import expected, make_set_a_image

from famfs.alloc import InterleaveParams
from famfs.errors import CorruptError, FamfsError
from famfs.fs import shadow as shadow_module
from famfs.fs.filesystem import Filesystem, NewFile
from famfs.fs.mkfs import mkfs
from famfs.fs.namespace import File
from famfs.fs.shadow import check_shadow, file_yaml, write_shadow
from famfs.omf.fmap import FileMap, SimpleExtent
from famfs.omf.layout import LOG_ENTRY_SIZE, MiB
from famfs.omf.log import FileEntry, entry_offset


@pytest.fixture
def fs_image(image_path: str) -> str:
    mkfs(image_path, size=256 * MiB)
    with Filesystem(image_path, writable=True) as fs:
        fs.mkdir("d1/d2", parents=True)
        fs.create_files([NewFile("top", MiB, mode=0o600, uid=7, gid=8),
                         NewFile("d1/d2/deep", 5 * MiB)])
        fs.create_file("d1/il", 16 * MiB, interleave=InterleaveParams(4, 2, 2 * MiB))
    return image_path


def test_logplay_of_a_device_counts_entries_files_and_directories(fs_image: str, cli) -> None:
    proc = cli("logplay", fs_image, check=True)
    assert proc.stdout.strip() == "5 log entries; 3 new files; 2 new directories"


def test_shadow_tree_mirrors_directories_and_files(fs_image: str, tmp_path: Path, cli) -> None:
    proc = cli("logplay", "--shadow", str(tmp_path / "s"), fs_image, check=True)
    assert proc.stdout == "famfs_logplay(shadow): 5 log entries; 3 new files; 2 new directories\n"
    root = tmp_path / "s" / "root"
    assert (root / "d1" / "d2").is_dir()
    top = yaml.safe_load((root / "top").read_text())["file"]
    assert (top["path"], top["size"], top["uid"], top["gid"]) == ("top", MiB, 7, 8)
    assert top["mode"] == 0o600
    assert len(top["simple_ext_list"]) == 1 and top["simple_ext_list"][0]["length"] == 2 * MiB
    il = yaml.safe_load((root / "d1" / "il").read_text())["file"]["striped_ext_list"][0]
    assert il["nstrips"] == 2 and il["chunk_size"] == 2 * MiB
    assert len(il["simple_ext_list"]) == 2


def test_shadow_replay_is_idempotent_and_incremental(fs_image: str, tmp_path: Path) -> None:
    shadow = str(tmp_path / "s")
    with Filesystem(fs_image) as fs:
        write_shadow(fs.namespace, shadow)
        again = write_shadow(fs.namespace, shadow)
    assert (again.new_files, again.new_directories, again.existing) == (0, 0, 5)
    with Filesystem(fs_image, writable=True) as fs:
        fs.create_file("later", 1)
        more = write_shadow(fs.namespace, shadow)
    assert (more.new_files, more.new_directories) == (1, 0)


def test_a_shadow_path_ending_in_root_is_the_root(fs_image: str, tmp_path: Path) -> None:
    with Filesystem(fs_image) as fs:
        write_shadow(fs.namespace, str(tmp_path / "x" / "root"))
    assert (tmp_path / "x" / "root" / "top").is_file()
    assert not (tmp_path / "x" / "root" / "root").exists()


def test_dry_run_writes_no_shadow_files(fs_image: str, tmp_path: Path, cli) -> None:
    proc = cli("logplay", "-n", "--shadow", str(tmp_path / "s"), "--daxdev", fs_image,
               check=True)
    assert proc.stdout.strip() == \
        "famfs_logplay(shadow): 5 log entries; 3 new files; 2 new directories"
    assert not (tmp_path / "s").exists()


def test_something_in_the_way_of_a_shadow_file_is_an_error(fs_image: str, tmp_path: Path,
                                                          cli) -> None:
    (tmp_path / "s" / "root" / "top").mkdir(parents=True)
    proc = cli("logplay", "--shadow", str(tmp_path / "s"), fs_image)
    assert proc.returncode == 1
    assert "top" in proc.stderr and "Traceback" not in proc.stderr


def test_daxdev_without_shadow_is_a_usage_error(fs_image: str, cli) -> None:
    proc = cli("logplay", "--daxdev", fs_image)
    assert proc.returncode == 1 and "--shadow" in proc.stderr


def test_logplay_of_a_non_famfs_path_fails(tmp_path: Path, cli) -> None:
    proc = cli("logplay", str(tmp_path))
    assert proc.returncode == 1 and "not a famfs" in proc.stderr


_PATH_PART = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x2FF,
                                   exclude_characters="/\0"), min_size=1, max_size=10).filter(
    lambda p: p not in (".", ".."))


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(_PATH_PART, min_size=1, max_size=4))
def test_shadow_yaml_reads_back_any_path_as_written(parts: list[str]) -> None:
    relpath = "/".join(parts)
    if len(relpath.encode()) >= 80:
        return
    entry = FileEntry(relpath, 5, FileMap.simple([SimpleExtent(0, 10 * MiB, 2 * MiB)]))
    doc = yaml.load(file_yaml(entry), Loader=yaml.BaseLoader)
    assert doc["file"]["path"] == relpath
    assert doc["file"]["simple_ext_list"][0]["offset"] == "0xa00000"


def test_shadow_logplay_of_set_a_prints_the_references_line(image_path: str, tmp_path: Path,
                                                             cli) -> None:
    make_set_a_image(image_path)
    proc = cli("logplay", "--shadow", str(tmp_path / "s"), "--daxdev", image_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == expected("logplay.txt")


def test_shadow_directories_keep_their_logged_mode_and_owner(image_path: str, tmp_path: Path,
                                                             cli) -> None:
    make_set_a_image(image_path)
    cli("logplay", "--shadow", str(tmp_path / "s"), "--daxdev", image_path, check=True)
    root = tmp_path / "s" / "root"
    # The owner is set when uid and gid are both non-zero, as the reference chowns.
    want = {"a": (0o755, 0, 0), "a/b": (0o755, 1000, 1000), "a/b/c": (0o700, 1000, 1000),
            "a/b/c/d": (0o750, 0, 0), "data/2024": (0o750, 1001, 100), "logs": (0o777, 0, 0),
            "empty": (0o711, 0, 0), "x.y-z_w": (0o555, 2000, 2000)}
    for rel, (mode, uid, gid) in want.items():
        st = os.stat(root / rel)
        assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (mode, uid, gid), rel


def test_shadow_prints_ids_past_2_31_signed(image_path: str, tmp_path: Path, cli) -> None:
    make_set_a_image(image_path)
    cli("logplay", "--shadow", str(tmp_path / "s"), "--daxdev", image_path, check=True)
    text = (tmp_path / "s" / "root" / "big_ids").read_text()
    assert "  uid: -2\n  gid: -2\n" in text


def _libyaml_path_lines(text: str) -> str:
    """The `  path: ...` lines libyaml itself writes for `text`: PyYAML's C emitter fed raw
    events, so that no PyYAML resolver picks the style (as the reference's emitter)."""
    from yaml.events import (
        DocumentEndEvent,
        DocumentStartEvent,
        MappingEndEvent,
        MappingStartEvent,
        ScalarEvent,
        StreamEndEvent,
        StreamStartEvent,
    )

    def scalar(value: str) -> ScalarEvent:
        return ScalarEvent(None, None, (True, True), value)

    events = [StreamStartEvent(), DocumentStartEvent(explicit=True),
              MappingStartEvent(None, None, True, flow_style=False), scalar("file"),
              MappingStartEvent(None, None, True, flow_style=False), scalar("path"),
              scalar(text), MappingEndEvent(), MappingEndEvent(),
              DocumentEndEvent(explicit=True), StreamEndEvent()]
    out = yaml.emit(events, Dumper=yaml.CDumper, allow_unicode=False, width=80)
    return out.split("file:\n", 1)[1].rsplit("...\n", 1)[0]


def _path_lines(relpath: str) -> str:
    doc = file_yaml(FileEntry(relpath, 5, FileMap.simple([SimpleExtent(0, 10 * MiB, 2 * MiB)])))
    return doc.split("file:\n", 1)[1].split("  size: ", 1)[0]


needs_libyaml = pytest.mark.skipif(not getattr(yaml, "__with_libyaml__", False),
                                   reason="PyYAML was built without libyaml")


@needs_libyaml
@pytest.mark.parametrize("name", ["tab\tx", "esc\x1b[31m", "nl\nx", "nul\x00", "del\x7f",
                                  "caf\u00e9", "quote'd", " lead", "trail ", "0505", "- x",
                                  "a: b", "a #b", "#x", "...x", "x" * 75 + " yz"])
def test_shadow_path_is_escaped_as_libyaml_escapes_it(name: str) -> None:
    assert _path_lines(name) == _libyaml_path_lines(name)


def test_a_tab_is_escaped_as_backslash_t() -> None:
    assert _path_lines("tab\tx") == '  path: "tab\\tx"\n'


@needs_libyaml
@settings(max_examples=300, deadline=None)
@given(text=st.text(st.characters(min_codepoint=1, max_codepoint=0x2FFF,
                                  exclude_categories=("Cs",)), min_size=1, max_size=79))
def test_shadow_path_matches_libyaml_for_any_text(text: str) -> None:
    assert _path_lines(text) == _libyaml_path_lines(text)


def test_logplay_exits_1_when_an_entry_cannot_be_applied(image_path: str, tmp_path: Path,
                                                         cli) -> None:
    mkfs(image_path, size=64 * MiB)
    with Filesystem(image_path, writable=True) as fs:
        fs.mkdir("dir")
        fs.create_file("ok", 1)
        # A file logged at the directory's path, as the reference's silent truncation of a
        # long name can produce.
        fs.log.append([FileEntry("dir", 1, fs.allocator.alloc_contiguous(1))])
    proc = cli("logplay", "--shadow", str(tmp_path / "s"), "--daxdev", image_path)
    assert proc.returncode == 1
    assert "log entry 2" in proc.stderr and "Traceback" not in proc.stderr
    assert (tmp_path / "s" / "root" / "ok").is_file()
    assert (tmp_path / "s" / "root" / "dir").is_dir()


def test_a_planted_symlink_never_leads_outside_the_shadow(fs_image: str, tmp_path: Path,
                                                          cli) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "s" / "root"
    root.mkdir(parents=True)
    (root / "d1").symlink_to(outside)
    proc = cli("logplay", "--shadow", str(tmp_path / "s"), "--daxdev", fs_image)
    assert proc.returncode == 1
    assert "symbolic link" in proc.stderr and "Traceback" not in proc.stderr
    assert list(outside.iterdir()) == []
    assert not (root / "top").exists()


def test_a_symlink_in_place_of_a_shadow_file_is_refused(fs_image: str, tmp_path: Path,
                                                        cli) -> None:
    target = tmp_path / "victim"
    target.write_text("keep")
    root = tmp_path / "s" / "root"
    root.mkdir(parents=True)
    (root / "top").symlink_to(target)
    proc = cli("logplay", "--shadow", str(tmp_path / "s"), "--daxdev", fs_image)
    assert proc.returncode == 1 and "symbolic link" in proc.stderr
    assert target.read_text() == "keep"


def test_a_symlink_as_the_shadow_root_is_refused(fs_image: str, tmp_path: Path, cli) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "root").symlink_to(outside)
    proc = cli("logplay", "--shadow", str(tmp_path / "s"), "--daxdev", fs_image)
    assert proc.returncode == 1 and "symbolic link" in proc.stderr
    assert list(outside.iterdir()) == []


def test_the_shadow_directory_is_made_only_if_its_parent_exists(fs_image: str, tmp_path: Path,
                                                                cli) -> None:
    proc = cli("logplay", "--shadow", str(tmp_path / "missing" / "frob"), "--daxdev", fs_image)
    assert proc.returncode == 1 and "does not exist" in proc.stderr
    assert not (tmp_path / "missing").exists()
    proc = cli("logplay", "--shadow", str(tmp_path / "new"), "--daxdev", fs_image)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "new" / "root" / "top").is_file()


def test_a_shadow_that_is_a_file_is_refused(fs_image: str, tmp_path: Path, cli) -> None:
    plain = tmp_path / "plain"
    plain.write_text("x")
    proc = cli("logplay", "--shadow", str(plain), "--daxdev", fs_image)
    assert proc.returncode == 1 and "not a directory" in proc.stderr


def test_a_second_shadow_option_is_a_usage_error(fs_image: str, tmp_path: Path, cli) -> None:
    proc = cli("logplay", "--shadow", str(tmp_path / "a"), "--shadow", str(tmp_path / "b"),
               "--daxdev", fs_image)
    assert proc.returncode == 2 and "only one shadow" in proc.stderr


@pytest.mark.parametrize("flags", [["-Ss"], ["-sS"], ["-S", "-s"], ["--shadowtest", "--shadow"]])
def test_shadowtest_reads_every_yaml_back(fs_image: str, tmp_path: Path, cli, flags) -> None:
    proc = cli("logplay", *flags, str(tmp_path / "s"), "--daxdev", fs_image, "-vv")
    assert proc.returncode == 0, proc.stderr
    assert "3 new files" in proc.stdout
    assert "\tExisted: 0 files, 0 directories" in proc.stdout


def test_shadowtest_catches_a_yaml_file_that_differs(fs_image: str, tmp_path: Path) -> None:
    shadow = str(tmp_path / "s")
    with Filesystem(fs_image) as fs:
        write_shadow(fs.namespace, shadow)
        top = tmp_path / "s" / "root" / "top"
        top.write_text(top.read_text().replace("size: 1048576", "size: 1048577"))
        with pytest.raises(FamfsError, match="does not match log entry"):
            check_shadow(fs.namespace, shadow)


@pytest.mark.parametrize("flags", [["-rc"], ["-m"], ["-vr"], ["-vvv"], ["-c", "-n"]])
def test_reference_logplay_flags_are_accepted(fs_image: str, cli, flags) -> None:
    proc = cli("logplay", *flags, fs_image)
    assert proc.returncode == 0, proc.stderr
    assert "5 log entries" in proc.stdout


def test_logplay_mmap_and_read_together_fail_as_the_reference(fs_image: str, cli) -> None:
    proc = cli("logplay", "-rm", fs_image)
    assert proc.returncode == 1 and "mutually exclusive" in proc.stderr


def test_logplay_without_a_target_is_a_usage_error(cli) -> None:
    proc = cli("logplay")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_shadowtest_checks_only_what_this_replay_wrote(fs_image: str, tmp_path: Path,
                                                       cli) -> None:
    root = tmp_path / "s" / "root"
    root.mkdir(parents=True)
    (root / "top").write_text("an older filesystem's file\n")
    proc = cli("logplay", "-Ss", str(tmp_path / "s"), "--daxdev", fs_image)
    assert proc.returncode == 0, proc.stderr
    assert (root / "top").read_text() == "an older filesystem's file\n"


def _every_kind_of_file(image_path: str) -> None:
    """One-extent files (plain names, names with '.', quoted names), a two-extent file and an
    interleaved one, spread over directories."""
    mkfs(image_path, size=256 * MiB)
    with Filesystem(image_path, writable=True) as fs:
        fs.mkdir("d/e", parents=True)
        fs.create_files([NewFile(f"d/f{i}", i + 1, mode=0o640, uid=i, gid=2 * i)
                         for i in range(9)])
        fs.create_files([NewFile("x.y-z_w", 3), NewFile("d/e/it's", 4),
                         NewFile("d/e/caf\u00e9", 5), NewFile("top", 6, uid=0xFFFFFFFE),
                         NewFile("-x", 7, gid=0x80000000), NewFile("d/e/a b", 8)])
        first = fs.allocator.alloc_contiguous(MiB).extents[0]
        second = fs.allocator.alloc_contiguous(MiB).extents[0]
        fs.log.append([FileEntry("d/two", 3 * MiB // 2, FileMap.simple([first, second]))])
        fs.create_file("d/e/il", 16 * MiB, interleave=InterleaveParams(4, 2, 2 * MiB))


@pytest.mark.parametrize("documents", [1, 3, 4096])
def test_each_shadow_file_is_the_yaml_of_its_entry(image_path: str, tmp_path: Path,
                                                   monkeypatch, documents: int) -> None:
    monkeypatch.setattr(shadow_module, "_DOCUMENTS", documents)
    _every_kind_of_file(image_path)
    shadow = tmp_path / "s"
    with Filesystem(image_path) as fs:
        stats = write_shadow(fs.namespace, str(shadow))
        assert stats.new_files == 17
        for node in fs.namespace.walk():
            if isinstance(node, File):
                assert node.index is not None
                want = file_yaml(fs.log.file_entry(node.index))
                assert (shadow / "root" / node.relpath).read_text() == want, node.relpath


def _flip_byte(entry: bytearray) -> None:
    entry[40] ^= 1


def _renumber(entry: bytearray) -> None:
    entry[0] ^= 1


def _no_extents(entry: bytearray) -> None:
    entry[128:132] = bytes(4)


def _dot_dot_path(entry: bytearray) -> None:
    entry[40:48] = b"d/../f4\0"


@pytest.mark.parametrize("damage, recrc, field", [(_flip_byte, False, "crc"),
                                                  (_renumber, True, "seqnum"),
                                                  (_no_extents, True, "fmap.nextents"),
                                                  (_dot_dot_path, True, "relpath")])
def test_an_entry_damaged_after_replay_is_refused_when_its_shadow_file_is_made(
        image_path: str, tmp_path: Path, damage, recrc: bool, field: str) -> None:
    _every_kind_of_file(image_path)
    with Filesystem(image_path) as fs:
        index = fs.namespace.lookup("d/f4").index
        assert index is not None
        at = fs.log.base + entry_offset(index)
        with open(image_path, "r+b") as fh:
            fh.seek(at)
            entry = bytearray(fh.read(LOG_ENTRY_SIZE))
            damage(entry)
            if recrc:
                entry[536:] = zlib.crc32(entry[:536]).to_bytes(8, "little")
            fh.seek(at)
            fh.write(entry)
        with pytest.raises(CorruptError, match=f"log entry {index}: field {field}:"):
            write_shadow(fs.namespace, str(tmp_path / "s"))


def _obstacles(shadow: Path) -> None:
    """A directory where file d/f3 belongs, a file left by an earlier replay at d/f5, and a
    file where directory d/e belongs (so its files have no directory)."""
    (shadow / "root" / "d" / "f3").mkdir(parents=True)
    (shadow / "root" / "d" / "f5").write_text("earlier\n")
    (shadow / "root" / "d" / "e").write_text("in the way\n")


def _shadow_files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*"))
            if p.is_file()}


@pytest.mark.parametrize("dry_run", [False, True])
def test_writer_threads_write_and_count_what_one_thread_does(image_path: str, tmp_path: Path,
                                                             monkeypatch, dry_run: bool) -> None:
    _every_kind_of_file(image_path)
    outcomes = []
    for threads_from in (10**9, 1):
        monkeypatch.setattr(shadow_module, "_PARALLEL_FILES", threads_from)
        monkeypatch.setattr(shadow_module, "_DOCUMENTS", 7)
        monkeypatch.setattr(shadow_module, "_FD_CACHE", 2)
        shadow = tmp_path / "s"
        _obstacles(shadow)
        with Filesystem(image_path) as fs:
            stats = write_shadow(fs.namespace, str(shadow), dry_run=dry_run)
        outcomes.append((stats, _shadow_files(shadow / "root")))
        shutil.rmtree(shadow)
    (one, one_tree), (threads, threads_tree) = outcomes
    assert threads == one
    assert threads_tree == one_tree
    assert (one.dir_errors, one.existing_files) == (1, 1)
    assert one.file_errors == (1 if dry_run else 5)  # d/f3, and in a replay d/e's 4 files
    assert len(one.written) == (0 if dry_run else 11)


def test_a_failure_on_a_writer_thread_is_raised_with_no_descriptor_left_open(
        image_path: str, tmp_path: Path, monkeypatch) -> None:
    _every_kind_of_file(image_path)
    monkeypatch.setattr(shadow_module, "_PARALLEL_FILES", 1)
    real = shadow_module._write_files

    def failing(documents, parent, tree, run, dry_run):
        if documents.relpaths[run.start].startswith("d/e/"):
            raise FamfsError("injected failure")
        real(documents, parent, tree, run, dry_run)

    monkeypatch.setattr(shadow_module, "_write_files", failing)
    with Filesystem(image_path) as fs:
        before = len(os.listdir("/proc/self/fd"))
        with pytest.raises(FamfsError, match="injected failure"):
            write_shadow(fs.namespace, str(tmp_path / "s"))
        assert len(os.listdir("/proc/self/fd")) == before
    assert (tmp_path / "s" / "root" / "top").is_file()


def test_an_interrupted_replay_closes_no_descriptor_a_writer_thread_still_uses(
        image_path: str, tmp_path: Path, monkeypatch) -> None:
    _every_kind_of_file(image_path)
    monkeypatch.setattr(shadow_module, "_PARALLEL_FILES", 1)
    real_write, real_wait = shadow_module._write_files, shadow_module.wait
    interrupted: list[bool] = []

    def slow(*args) -> None:
        time.sleep(0.05)
        real_write(*args)

    def interrupting(futures):
        if not interrupted:
            interrupted.append(True)
            raise KeyboardInterrupt
        return real_wait(futures)

    monkeypatch.setattr(shadow_module, "_write_files", slow)
    monkeypatch.setattr(shadow_module, "wait", interrupting)
    root = tmp_path / "s" / "root"
    with Filesystem(image_path) as fs:
        before = len(os.listdir("/proc/self/fd"))
        with pytest.raises(KeyboardInterrupt):
            write_shadow(fs.namespace, str(tmp_path / "s"))
        assert len(os.listdir("/proc/self/fd")) == before
        for node in fs.namespace.walk():
            if isinstance(node, File):
                assert node.index is not None
                want = file_yaml(fs.log.file_entry(node.index))
                assert (root / node.relpath).read_text() == want, node.relpath
