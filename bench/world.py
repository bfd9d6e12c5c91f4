"""How long a world takes to generate and how much memory it needs.

    .venv/bin/python bench/world.py [--scale atlas10] [--seed 1] [--out /tmp/world]

Prints the wall time, the staged rows per second and the process's peak resident memory
(``resource.getrusage``: ru_maxrss, which includes the interpreter's ~30 MB). The world's
entities are in memory (O(entities)); the exports and the ground truth stream to disk
(issue 20), so the peak grows with the entities, not with the rows.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from synthetic.generate import generate
from synthetic.world import SCALES


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", choices=sorted(SCALES), default="atlas10")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, help="folder (default: a temporary one, removed)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="atlas-world-") as tmp:
        out = args.out or Path(tmp)
        t = time.perf_counter()
        expected = generate(out, scale=args.scale, seed=args.seed)
        seconds = time.perf_counter() - t
        size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = expected["staged_rows"]
    print(f"{args.scale} seed {args.seed}: {rows:,} staged rows, {expected['people']:,} people, "
          f"{expected['places']:,} places, {expected['cats']:,} cats in {seconds:.1f}s "
          f"({rows / seconds:,.0f} rows/s); {size / 2**20:,.0f} MiB on disk; "
          f"peak RSS {peak_mb:,.0f} MiB (the machine is shared: times are noisy)")


if __name__ == "__main__":
    main()
