"""Rows for the client_survey example source: people reporting the cats at an address.

Shaped like a real survey export: some rows lack an email or phone, some the address (those
are rejected by the required-field rule), some give a count that is not a number.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

from synthetic import exports, world

HEADER = ["response_id", "survey_date", "first_name", "last_name", "email", "phone",
          "address", "cat_count", "kittens_seen"]


def write_survey(path: Path, rows: int, *, seed: int = 1) -> int:
    """Write ``rows`` survey responses to a CSV at ``path``; returns the count written."""
    rng = random.Random(seed)
    w = world.build(seed, "small" if rows < 5000 else "atlas")
    people = [p for p in w.people if not p.name_only]
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(HEADER)
        for i in range(rows):
            p = rng.choice(people)
            place = p.place or rng.choice(w.places)
            address = "" if rng.random() < 0.02 else exports.address_line(rng, place)
            count = rng.choice([str(rng.randint(1, 30)), str(rng.randint(1, 8)), "a few", ""])
            out.writerow([
                f"cs-{seed}-{i + 1:06d}", f"0{rng.randint(1, 9)}/1{rng.randint(0, 9)}/2026",
                p.first, p.last, p.email or "", exports.phone_text(rng, p.cell or p.landline),
                address, count, rng.choice(["yes", "no", ""]),
            ])
    return rows



