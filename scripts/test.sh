#!/usr/bin/env bash
# Sets up (scripts/setup.sh) and runs the whole test suite, FUSE mounts included (as root, with
# /dev/fuse). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python -m ruff check src tests bench
exec .venv/bin/python -m pytest -q "$@"
