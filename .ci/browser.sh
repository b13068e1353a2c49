#!/usr/bin/env bash
# Headless Chromium for the test that renders `unlearn forget`'s report page (tests/forget_tests.rs):
# installs Debian's `chromium` when it is missing (as root or with password-less sudo). Without
# either, it says so and the test fails unless UNLEARN_SKIP_BROWSER=1 is set.
set -euo pipefail
say() { printf '[browser] %s\n' "$*"; }
if command -v chromium >/dev/null 2>&1; then
    say "$(chromium --version 2>/dev/null | head -1) ok"
    exit 0
fi
if [ -n "${UNLEARN_SKIP_BROWSER:-}" ]; then
    say "chromium missing; UNLEARN_SKIP_BROWSER set: the report page will not be checked in a browser"
    exit 0
fi
as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo -n "$@"
    else
        say "chromium is missing and installing it needs root: apt-get install chromium, or set UNLEARN_SKIP_BROWSER=1"
        exit 1
    fi
}
command -v apt-get >/dev/null 2>&1 || { say "chromium is missing and there is no apt-get: install Chromium, or set UNLEARN_SKIP_BROWSER=1"; exit 1; }
say "installing Debian's chromium (about 30 s, first time only)"
as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
say "$(chromium --version 2>/dev/null | head -1) installed"
