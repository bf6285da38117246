"""The C libfuse3 baselines of the benchmarks (run as scripts: bench/ is on sys.path): the
toolchain, installed with apt-get when missing, building one of the small servers in bench/,
and running it on a fresh mount point.

- cfuse_mmap.c: files served from an mmap (bench_fuse.py, the read path);
- cfuse_tree.c: a tree answered with no table at all (bench_scale.py, stat by path).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from famfs.fuse.mount import sys_umount

HERE = Path(__file__).resolve().parent
PACKAGES = ("gcc", "libfuse3-dev", "pkg-config")
START_TIMEOUT_S = 10.0


def ensure_toolchain(install: bool) -> None:
    """gcc and libfuse3's headers, installed with apt-get when missing and `install`."""
    def present() -> bool:
        return shutil.which("gcc") is not None and shutil.which("pkg-config") is not None \
            and subprocess.run(["pkg-config", "--exists", "fuse3"]).returncode == 0

    if present():
        return
    if not install:
        raise SystemExit(f"the C baseline needs {' '.join(PACKAGES)} (run without "
                         f"--no-install to apt-get them)")
    print(f"installing {' '.join(PACKAGES)} with apt-get ...", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *PACKAGES]):
        if subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL).returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed")
    if not present():
        raise SystemExit("the C toolchain is still missing after apt-get")


def build(source: str, outdir: str) -> str:
    """Compile bench/`source` (a file name) into `outdir`; returns the binary."""
    binary = os.path.join(outdir, Path(source).stem)
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "fuse3"], capture_output=True,
                           text=True, check=True).stdout.split()
    subprocess.run(["gcc", "-O2", "-Wall", "-o", binary, str(HERE / source), *flags],
                   check=True)
    return binary


def on_cpu(cpu: int | None) -> Callable[[], None] | None:
    """A preexec_fn pinning the child, and all it starts, to CPU `cpu` (None: no pinning)."""
    if cpu is None:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


@contextmanager
def serving(binary: str, *options: str, args: tuple[str, ...] = (),
            cpu: int | None = None) -> Iterator[str]:
    """Run `binary [options] MOUNTPOINT [args]` on a fresh mount point until the block ends
    (on CPU `cpu` alone unless None); yields the mount point once it is mounted. Unmounts and
    removes it on the way out."""
    mp = tempfile.mkdtemp(prefix="famfs-bench-c-")
    proc = subprocess.Popen([binary, *options, mp, *args], preexec_fn=on_cpu(cpu))
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not os.path.ismount(mp):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the C server {Path(binary).name} did not come up")
            time.sleep(0.02)
        yield mp
    finally:
        try:
            sys_umount(mp)
        except OSError:
            pass
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        os.rmdir(mp)
