#!/usr/bin/env bash
# The main job on a default image: create a 1 GiB image in /dev/shm, make a famfs on it,
# copy a few files in, list them, fill and verify a file with the reference pattern, and check
# the filesystem. Usage: scripts/demo.sh [IMAGE]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"

image=${1:-/dev/shm/famfs-demo.img}
src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT

echo "== mkfs.famfs -f -s 1g $image"
mkfs.famfs -f -s 1g "$image"

mkdir -p "$src/docs"
cp README.md "$src/docs/README.md"
cp pyproject.toml "$src/pyproject.toml"
head -c 3000000 /dev/urandom > "$src/docs/random.bin"

echo "== famfs mkdir / cp -r / creat -r"
famfs mkdir "$image:demo"
famfs cp -r -c "$src/docs" "$src/pyproject.toml" "$image:demo"
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
echo "demo ok: the image is $image (mount it with: famfs mount $image /mnt/famfs)"
