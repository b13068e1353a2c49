#!/usr/bin/env bash
# Notebook set-up (idempotent): evcxr_jupyter (pinned, --locked) and Jupyter in the project cache,
# and the `rust` kernel registered with the environment libtorch needs.
#   UNLEARN_CACHE (default ~/.cache/unlearn)
set -euo pipefail
CACHE="${UNLEARN_CACHE:-$HOME/.cache/unlearn}"
EVCXR_VERSION=0.22.0
VENV="$CACHE/venv"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
"$ROOT/.ci/setup.sh" >/dev/null

# 1. evcxr_jupyter, built once into the cache (about 14 minutes on 2 cores)
# (evcxr_jupyter has no --version: a stamp file records what was installed)
if [ ! -x "$CACHE/evcxr/bin/evcxr_jupyter" ] || [ "$(cat "$CACHE/evcxr/.version" 2>/dev/null)" != "$EVCXR_VERSION" ]; then
    echo "installing evcxr_jupyter $EVCXR_VERSION into $CACHE/evcxr (first time only)" >&2
    CARGO_TARGET_DIR="$CACHE/evcxr-build" cargo install --locked --root "$CACHE/evcxr" evcxr_jupyter --version "$EVCXR_VERSION"
    rm -rf "$CACHE/evcxr-build"
    echo "$EVCXR_VERSION" > "$CACHE/evcxr/.version"
fi

# 2. Jupyter into the project venv
if ! "$VENV/bin/python" -c "import jupyterlab, nbconvert, nbclient" 2>/dev/null; then
    echo "installing JupyterLab and nbconvert into $VENV (first time only)" >&2
    "$VENV/bin/pip" install --quiet jupyterlab nbconvert nbclient
fi

# 3. the kernel, with the environment libtorch needs (evcxr links cells itself, so our build.rs
#    link arguments do not apply: LIBTORCH and LD_LIBRARY_PATH must reach it) and a fixed
#    EVCXR_TMPDIR so later starts reuse the compiled dependencies
LIBTORCH="$(readlink -f "$CACHE/libtorch")"
export JUPYTER_PATH="$CACHE/jupyter"
KDIR="$JUPYTER_PATH/kernels/rust"
mkdir -p "$KDIR" "$CACHE/evcxr-tmp"
"$VENV/bin/python" - "$KDIR/kernel.json" "$CACHE/evcxr/bin/evcxr_jupyter" "$LIBTORCH" "$CACHE/evcxr-tmp" <<'PY'
import json, os, sys
path, exe, libtorch, tmp = sys.argv[1:]
spec = {
    "argv": [exe, "--control_file", "{connection_file}"],
    "display_name": "Rust (unlearn)",
    "language": "rust",
    "interrupt_mode": "message",
    "env": {
        "LIBTORCH": libtorch,
        "LD_LIBRARY_PATH": os.path.join(libtorch, "lib") + ":" + os.environ.get("LD_LIBRARY_PATH", ""),
        "EVCXR_TMPDIR": tmp,
        "PATH": os.environ["PATH"],
    },
}
tmp_path = path + ".tmp"
with open(tmp_path, "w") as f:
    json.dump(spec, f, indent=1)
os.replace(tmp_path, path)
PY
echo "kernel 'rust' registered in $KDIR" >&2
