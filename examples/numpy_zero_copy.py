"""Share a NumPy array through famfs, then open it zero-copy from a second process.

    python examples/numpy_zero_copy.py [--image /dev/shm/famfs-example.img]

1. `mkfs.famfs` makes a famfs on an image file (a /dev/daxX.Y device works the same way).
2. `famfs.save` creates IMAGE:arrays/weights.npy at its exact size, writes the .npy header and
   the array's bytes into it in place, and logs it only then.
3. A second process opens IMAGE:arrays/weights.npy with `famfs.open` and maps the file into
   its address space: `f.npy_array()` parses the .npy header and returns an array whose memory
   *is* the device, with no copy. It prints what it sees; the first process checks it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np


def famfs_cli(*args: str) -> None:
    """Run the famfs command line as a user would."""
    prog = "famfs.cli.mkfs" if args[0] == "mkfs.famfs" else "famfs"
    args = args[1:] if args[0] == "mkfs.famfs" else args
    subprocess.run([sys.executable, "-m", prog, *args], check=True)


def reader(target: str) -> None:
    """The second process: open the file, view the array in place, report."""
    import famfs

    weights = famfs.load(target)   # parses the .npy header; the data is a view of the file
    report = {
        "shape": list(weights.shape),
        "dtype": str(weights.dtype),
        "sum": float(weights.sum(dtype=np.float64)),
        "corner": weights[:2, :3].tolist(),
        "copied": bool(weights.flags.owndata),
        "read_only": not weights.flags.writeable,
    }
    print(json.dumps(report))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default=None, help="image file to create (default: a new "
                        "file in /dev/shm or the temp directory)")
    parser.add_argument("--reader", metavar="TARGET", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.reader:
        reader(args.reader)
        return 0

    import famfs

    base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else tempfile.gettempdir()
    image = args.image or os.path.join(base, f"famfs-example-{os.getpid()}.img")
    try:
        weights = np.random.default_rng(7).standard_normal((512, 1024)).astype(np.float32)
        famfs_cli("mkfs.famfs", "--size", "256m", image)
        famfs.mkdir(f"{image}:arrays")
        famfs.save(f"{image}:arrays/weights.npy", weights)

        out = subprocess.run([sys.executable, __file__, "--reader", f"{image}:arrays/weights.npy"],
                             check=True, capture_output=True, text=True).stdout
        seen = json.loads(out)
        print(f"second process saw {seen['shape']} {seen['dtype']}, sum {seen['sum']:.4f}, "
              f"copied: {seen['copied']}, read-only: {seen['read_only']}")
        ok = (seen["shape"] == list(weights.shape) and seen["dtype"] == "float32"
              and np.isclose(seen["sum"], weights.sum(dtype=np.float64))
              and seen["corner"] == weights[:2, :3].tolist() and not seen["copied"])
        print("zero-copy share: OK" if ok else "zero-copy share: MISMATCH")
        return 0 if ok else 1
    finally:
        if args.image is None and os.path.exists(image):
            os.unlink(image)


if __name__ == "__main__":
    sys.exit(main())
