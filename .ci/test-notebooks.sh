#!/usr/bin/env bash
# Executes every notebook in examples/ headlessly with the `rust` (evcxr) kernel and fails on any
# error: nbconvert exits 0 when a cell panics or a `?` fails, so the executed notebook is scanned
# for error outputs and must show the final sentinel cell's output.
set -euo pipefail
CACHE="${UNLEARN_CACHE:-$HOME/.cache/unlearn}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
export JUPYTER_PATH="$CACHE/jupyter"
# the kernel's environment (LIBTORCH, LD_LIBRARY_PATH, EVCXR_TMPDIR) is set by its launcher
# (.ci/notebook-setup.sh), not here
# NOTEBOOK_OUT=dir keeps the executed notebooks and nbconvert's logs there
if [ -n "${NOTEBOOK_OUT:-}" ]; then
    OUT="$NOTEBOOK_OUT"; mkdir -p "$OUT"
else
    OUT="$(mktemp -d)"; trap 'rm -rf "$OUT"' EXIT
fi
status=0
for nb in "$ROOT"/examples/*.ipynb; do
    name="$(basename "$nb")"
    start=$(date +%s)
    if ! (cd "$ROOT/examples" && "$CACHE/venv/bin/jupyter" nbconvert --to notebook --execute \
            --ExecutePreprocessor.kernel_name=rust --ExecutePreprocessor.timeout=1800 \
            --output-dir "$OUT" "$nb" >"$OUT/$name.log" 2>&1); then
        echo "FAIL $name: nbconvert failed"; tail -30 "$OUT/$name.log"; status=1; continue
    fi
    if "$CACHE/venv/bin/python" "$ROOT/.ci/check_notebook.py" "$OUT/$name"; then
        echo "ok   $name ($(( $(date +%s) - start )) s)"
    else
        status=1
    fi
done
exit $status
