"""Warms the `rust` notebook kernel: starts it as Jupyter would, adds the unlearn crate as the
notebooks do (`:dep unlearn = { path = ... }`) and opens a session, so the first start's compile
(the crate and its dependencies, built by evcxr as dynamic libraries) happens here, with a progress
line, instead of silently behind the first notebook cell. A warm cache answers in seconds.

    python warm_kernel.py REPO_ROOT CACHE
"""

import os
import queue
import subprocess
import sys
import time

from jupyter_client.manager import KernelManager

TRIPLE_DIRS = ("x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu")
TIMEOUT_S = 3600
last_shown = 0.0


def expected_crates(root):
    """How many library crates the kernel compiles for unlearn (cargo tree, offline; an estimate
    for the progress line only)."""
    try:
        out = subprocess.run(
            ["cargo", "tree", "--offline", "-e", "normal", "--prefix", "none", "--format", "{p}", "-p", "unlearn"],
            cwd=root, capture_output=True, text=True, timeout=120, check=True,
        ).stdout
    except Exception:
        return None
    names = {line.split(" (")[0].strip() for line in out.splitlines() if line.strip()}
    return len(names) or None


def compiled_since(cache, start):
    """Crates the kernel compiled since `start`: dep-info files written in its target folders."""
    n = 0
    for slot in ("evcxr-tmp", "evcxr-tmp-2", "evcxr-tmp-3"):
        for triple in TRIPLE_DIRS:
            deps = os.path.join(cache, slot, "target", triple, "debug", "deps")
            try:
                entries = os.scandir(deps)
            except OSError:
                continue
            with entries:
                for e in entries:
                    if e.name.endswith(".d") and not e.name.startswith(("libctx", "libcode_")):
                        try:
                            if e.stat().st_mtime >= start:
                                n += 1
                        except OSError:
                            pass
    return n


def show(line, tty):
    if tty:
        sys.stderr.write("\r\033[K" + line)
    else:
        sys.stderr.write(line + "\n")
    sys.stderr.flush()


def run(client, code, cache, total, start, tty):
    """Executes `code` and waits for its reply, printing progress while it runs; returns the
    cell's error text or None."""
    msg_id = client.execute(code)
    error, stderr = None, ""
    global last_shown
    while True:
        try:
            msg = client.get_iopub_msg(timeout=1)
            if msg.get("parent_header", {}).get("msg_id") == msg_id:
                kind = msg["msg_type"]
                if kind == "error":
                    error = "\n".join(msg["content"].get("traceback") or [msg["content"].get("evalue", "")])
                elif kind == "stream" and msg["content"].get("name") == "stderr":
                    stderr += msg["content"].get("text", "")
                elif kind == "status" and msg["content"].get("execution_state") == "idle":
                    return None if error is None else error + ("\n" + stderr if stderr else "")
        except queue.Empty:
            pass
        now = time.time()
        if now - start > TIMEOUT_S:
            return f"no answer after {TIMEOUT_S} s"
        if now - start >= 10 and now - last_shown >= (2 if tty else 30):
            last_shown = now
            n = compiled_since(cache, start)
            of = f"/{max(total, n)}" if total else ""
            elapsed = int(now - start)
            show(f"[notebook] compiling unlearn for the notebook kernel (first start only): "
                 f"{n}{of} crates, {elapsed // 60}:{elapsed % 60:02d}", tty)


def main():
    root, cache = os.path.realpath(sys.argv[1]), sys.argv[2]
    tty = sys.stderr.isatty()
    total = expected_crates(root)
    start = time.time()
    km = KernelManager(kernel_name="rust")
    km.start_kernel(cwd=os.path.join(root, "examples"))
    client = km.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=120)
        error = run(client, f':dep unlearn = {{ path = "{root}" }}', cache, total, start, tty)
        if error is None:
            error = run(client, 'let _s = unlearn::notebook::Session::new()?;',
                        cache, total, start, tty)
    finally:
        client.stop_channels()
        km.shutdown_kernel(now=True)
    if tty:
        sys.stderr.write("\n")
    if error:
        sys.stderr.write(f"[notebook] the kernel could not load unlearn:\n{error}\n")
        return 1
    sys.stderr.write(f"[notebook] kernel ready ({int(time.time() - start)} s)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
