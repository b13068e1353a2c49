"""Fails (exit 1) when an executed notebook shows an error, a panic or a failed `?`, or lacks the
sentinel line NOTEBOOK OK in its last code cell's output."""
import json
import sys

SENTINEL = "NOTEBOOK OK"
path = sys.argv[1]
nb = json.load(open(path))
cells = [c for c in nb["cells"] if c["cell_type"] == "code"]
problems = []
for i, cell in enumerate(cells):
    for out in cell.get("outputs", []):
        kind = out.get("output_type")
        text = "".join(out.get("text", [])) if isinstance(out.get("text"), list) else out.get("text", "")
        if kind == "error":
            problems.append(f"cell {i}: {out.get('ename')}: {out.get('evalue')}")
        elif kind == "stream" and out.get("name") == "stderr" and ("panicked" in text or text.lstrip().startswith("Error")):
            problems.append(f"cell {i}: {text.strip()[:500]}")
        for mime, data in out.get("data", {}).items():
            body = "".join(data) if isinstance(data, list) else str(data)
            if "panicked" in body or body.lstrip().startswith("Error:"):
                problems.append(f"cell {i} ({mime}): {body.strip()[:500]}")
last = "".join(
    "".join(o.get("text", [])) if isinstance(o.get("text"), list) else o.get("text", "")
    for o in (cells[-1].get("outputs", []) if cells else [])
)
if SENTINEL not in last:
    problems.append(f"the last code cell does not print {SENTINEL!r} (the notebook stopped early?)")
for p in problems:
    print(f"FAIL {path}: {p}")
sys.exit(1 if problems else 0)
