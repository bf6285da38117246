#!/usr/bin/env bash
# The main job on a default image: create a 1 GiB image (IMAGE, default /dev/shm/famfs-demo.img;
# an existing famfs there is overwritten), make a famfs on it, copy a few files in and compare
# them, list them, fill and verify a file with the reference pattern, check the filesystem and,
# as root with /dev/fuse, mount it and read a file back. Usage: scripts/demo.sh [IMAGE]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"

image=${1:-/dev/shm/famfs-demo.img}
src=$(mktemp -d)
mnt=""
cleanup() {
    if [ -n "$mnt" ]; then famfs umount "$mnt" 2>/dev/null || true; rmdir "$mnt" 2>/dev/null || true; fi
    rm -rf "$src"
}
trap cleanup EXIT

echo "== mkfs.famfs -f -s 1g $image"
mkfs.famfs -f -s 1g "$image"

mkdir -p "$src/docs"
cp README.md "$src/docs/README.md"
cp pyproject.toml "$src/pyproject.toml"
head -c 3000000 /dev/urandom > "$src/docs/random.bin"

echo "== famfs mkdir / cp -r / creat -r"
famfs mkdir "$image:demo"
famfs cp -r "$src/docs" "$src/pyproject.toml" "$image:demo"
famfs cp -r -c "$src/docs" "$src/pyproject.toml" "$image:demo" && echo "cp -c: the copies compare equal"
famfs creat -s 8m -r -S 42 "$image:demo/pattern.bin"

echo "== famfs logplay --shadow (the filesystem's entries, as YAML files)"
shadow=$(mktemp -d)
famfs logplay --shadow "$shadow" "$image"
find "$shadow" -type f | sort | sed "s#^$shadow/##"
rm -rf "$shadow"

echo "== famfs getmap / verify / fsck"
famfs getmap "$image:demo/pattern.bin"
famfs verify -S 42 -f "$image:demo/pattern.bin"
famfs fsck -h "$image"
if [ "$(id -u)" -eq 0 ] && [ -c /dev/fuse ]; then
    mnt=$(mktemp -d)
    echo "== famfs mount $image $mnt; ls -lR; cmp; famfs umount"
    famfs mount "$image" "$mnt"
    ls -lR "$mnt/demo"
    cmp "$src/docs/random.bin" "$mnt/demo/random.bin" && echo "random.bin reads back identical through the mount"
    famfs umount "$mnt"
    rmdir "$mnt"
    mnt=""
else
    echo "(skipping the mount step: it needs root and /dev/fuse)"
fi
echo "demo ok: the image is $image (mount it with: famfs mount $image /mnt/famfs)"
