#!/usr/bin/env bash
# Creates .venv with Python 3.10 and installs requirements-test.lock (runtime + test + dev, every
# file checked against its hash; `make lock` writes it from pyproject.toml), then this project
# editable without dependencies. Idempotent: it does nothing when .venv already matches the lock.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
LOCK=requirements-test.lock
stamp="$VENV/.installed-lock"

find_python() {
  local cand
  for cand in "${PYTHON:-}" python3.10; do
    [ -n "$cand" ] || continue
    if "$cand" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null; then
      command -v "$cand"; return 0
    fi
  done
  if command -v pyenv >/dev/null 2>&1; then
    for v in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.10(\.[0-9]+)?$' | sort -t. -k3 -n -r); do
      cand="$(pyenv prefix "$v" 2>/dev/null)/bin/python3.10"
      if [ -x "$cand" ] && "$cand" -c 'import venv, ensurepip' 2>/dev/null; then
        echo "$cand"; return 0
      fi
    done
  fi
  return 1
}

# The console script mnist-tfx (pyproject.toml), from this checkout: works from any directory.
install_project() {
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e . 2>&1 \
    | grep -v "is ignored: it is neither a file nor a directory" || true
  [ -x "$VENV/bin/mnist-tfx" ] || { echo "error: $VENV/bin/mnist-tfx was not installed (pip install -e . failed)" >&2; exit 1; }
}

if [ -f "$stamp" ] && cmp -s "$stamp" "$LOCK" && "$VENV/bin/python" -c 'import tfx' 2>/dev/null; then
  [ -x "$VENV/bin/mnist-tfx" ] || install_project
  exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
  if ! py=$(find_python); then
    echo "error: Python 3.10 not found (TFX 1.16 needs it): install python3.10 with venv (e.g. 'pyenv install 3.10.13' or 'apt-get install python3.10-venv'), or set PYTHON=/path/to/python3.10" >&2
    exit 1
  fi
  echo "Creating $VENV with $py"
  "$py" -m venv "$VENV"
fi
# This machine's pip config names local indexes that may be absent; hide that noise, keep real errors.
pip_quiet() {
  local rc
  set +e
  "$VENV/bin/python" -m pip "$@" 2>&1 | grep -v "is ignored: it is neither a file nor a directory"
  rc=${PIPESTATUS[0]}
  set -e
  return "$rc"
}
pip_quiet install -q --upgrade "pip==24.2"
echo "Installing pinned dependencies into $VENV (first time: a few minutes)"
# --require-hashes: every package pinned in the lock and every downloaded file matching one of its
# sha256 hashes (an sdist is checked before it is built).
pip_quiet install -q --disable-pip-version-check --require-hashes -r "$LOCK"
"$VENV/bin/python" -m pip check >/dev/null
install_project
cp "$LOCK" "$stamp"
echo "Installed: $("$VENV/bin/python" -c 'import tfx, tensorflow as tf; print("tfx", tfx.__version__, "tensorflow", tf.__version__)' 2>/dev/null)"
echo "The tools from any directory: export PATH=\"$(cd "$VENV/bin" && pwd):\$PATH\" MNIST_TFX=\"$(pwd)\""
