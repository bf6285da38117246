#!/usr/bin/env bash
# Installs what pyfamfs needs on a Debian machine: Python with venv (apt), then a virtual
# environment in .venv with pyfamfs and its test tools (pip). Safe to run again. Says what it
# is doing at each step; afterwards `. .venv/bin/activate` puts famfs and mkfs.famfs on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { echo "setup: $*"; }

need_apt=()
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
command -v diff >/dev/null 2>&1 || need_apt+=(diffutils)
command -v tar >/dev/null 2>&1 || need_apt+=(tar)
command -v useradd >/dev/null 2>&1 || need_apt+=(passwd)
command -v runuser >/dev/null 2>&1 || need_apt+=(util-linux)
if [ ${#need_apt[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    step "installing ${need_apt[*]} with apt-get"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need_apt[@]}" python3-pip
fi

if [ ! -x .venv/bin/python ]; then
    step "making the virtual environment .venv"
    python3 -m venv .venv
fi
step "upgrading pip in .venv"
.venv/bin/python -m pip install -q --upgrade pip
step "installing pyfamfs (editable) with NumPy, PyYAML, pytest, hypothesis, ruff, mypy and" \
     "the data libraries its tests use (fsspec, pyarrow, pandas, dask, safetensors);" \
     "this takes a minute or two the first time"
.venv/bin/python -m pip install -q -e '.[test]'
# An editable install leaves the sources uncompiled, and where PYTHONDONTWRITEBYTECODE is set
# every command would compile them again (about 50 ms a command). A stale file is ignored.
step "compiling pyfamfs to bytecode"
.venv/bin/python -m compileall -q src >/dev/null
step "done: run '. .venv/bin/activate' to put famfs and mkfs.famfs on PATH" \
     "(or call .venv/bin/famfs)"
