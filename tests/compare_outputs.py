"""Compare two output trees made by the Make targets before and after issue 15's redesign.

HDF5 files: every dataset's dtype, shape and bytes, every attribute (group and dataset) equal.
JSON files: equal as parsed data. .md/.csv: equal text. Other files: listed, not compared.
Usage: .venv/bin/python tests/compare_outputs.py BEFORE_DIR AFTER_DIR [glob ...]
(Not a test: a tool for checking that a refactor leaves the Make targets' outputs unchanged.)
"""
import json, sys
from pathlib import Path

import h5py
import numpy as np


def h5_items(path):
    items = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            attrs = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in obj.attrs.items()}
            if isinstance(obj, h5py.Dataset):
                data = obj[()]
                data = np.asarray(data)
                payload = data.tolist() if data.dtype.kind == 'O' else data.tobytes()
                items[name] = (str(obj.dtype), obj.shape, payload, attrs)
            else:
                items[name] = ("group", None, None, attrs)
        visit("/", f)
        f.visititems(visit)
    return items


def compare(a: Path, b: Path) -> list:
    if a.suffix == ".h5":
        ia, ib = h5_items(a), h5_items(b)
        diffs = [f"only in one: {sorted(set(ia) ^ set(ib))}"] if set(ia) != set(ib) else []
        for key in sorted(set(ia) & set(ib)):
            if ia[key][:3] != ib[key][:3]:
                diffs.append(f"dataset {key} differs")
            if ia[key][3] != ib[key][3]:
                keys = sorted(k for k in set(ia[key][3]) | set(ib[key][3]) if ia[key][3].get(k) != ib[key][3].get(k))
                diffs.append(f"attrs of {key} differ: {keys}")
        return diffs
    if a.suffix == ".json":
        return [] if json.loads(a.read_text()) == json.loads(b.read_text()) else ["json differs"]
    if a.suffix in (".md", ".csv", ".txt"):
        return [] if a.read_text() == b.read_text() else ["text differs"]
    return None


def main():
    before, after = Path(sys.argv[1]), Path(sys.argv[2])
    globs = sys.argv[3:] or ["**/*"]
    files = sorted({p.relative_to(before) for g in globs for p in before.glob(g) if p.is_file()})
    equal = differ = skipped = 0
    for rel in files:
        if not (after / rel).is_file():
            print(f"MISSING after: {rel}"); differ += 1; continue
        diffs = compare(before / rel, after / rel)
        if diffs is None:
            skipped += 1
        elif diffs:
            differ += 1
            print(f"DIFF {rel}: {'; '.join(diffs)}")
        else:
            equal += 1
    print(f"{before} vs {after}: {equal} equal, {differ} differ, {skipped} not compared (other types)")


if __name__ == "__main__":
    main()
