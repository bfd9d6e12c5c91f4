"""The held-out identity set (tests/corpus/heldout/, docs/identity.md "The held-out set"):
register its two sources as a new organisation would (docs/orchestrator.md, "Adding a new
source with SQL alone"), ingest and process them through the CLI, and score the people,
places and cats made against the truth with the atlas bench's pairwise measure.

    DATABASE_URL=… python -m tests.heldout    # on a database with `install --with-core`:
                                              # loads the set, prints the scores and every
                                              # wrong merge and missed match by class
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from synthetic.scoring import pairwise
from tests.helpers import execute, sql

HERE = Path(__file__).resolve().parent / "corpus" / "heldout"
SYSTEM = "rccc"

SOURCES = """
INSERT INTO trapper.orchestrator_sources
    (source_system, source_table, display_name, entity_types_produced, processor_name,
     ingest_method, ingest_frequency, expected_fields, id_field_candidates)
VALUES ('rccc', 'clinic', 'Redwood Coast clinic check-in', '{person,place,cat}',
        'orchestrator_router', 'file_upload', 'on_demand',
        trapper.orchestrator_fields(ARRAY['Check-in #', 'Date', 'First', 'Last', 'Email',
            'Phone', 'Alt Phone', 'Address', 'City', 'ZIP', 'Cat Name', 'Microchip'],
            ARRAY['Check-in #']),
        ARRAY['Check-in #']),
       ('rccc', 'requests', 'Redwood Coast trapping requests', '{person,place,colony_estimate}',
        'orchestrator_router', 'file_upload', 'on_demand',
        trapper.orchestrator_fields(ARRAY['Timestamp', 'Your name', 'Email', 'Phone number',
            'Where are the cats? (address)', 'How many cats?'], ARRAY['Timestamp']),
        ARRAY['Timestamp']);
INSERT INTO trapper.orchestrator_routing_rules
    (source_system, source_table, source_fields, field_separator, target_surface,
     target_field, routing_type, target_function, transform_expression, is_required)
VALUES ('rccc', 'clinic', ARRAY['Address', 'City', 'ZIP'], ', ', 'places',
        'formatted_address', 'function_call', 'find_or_create_place_deduped', NULL, false);
INSERT INTO trapper.orchestrator_routing_rules
    (source_system, source_table, source_field, target_surface, target_field, routing_type,
     target_function, transform_expression, is_required)
VALUES
    ('rccc', 'clinic', 'First', 'sot_people', 'first_name', 'direct',
     'find_or_create_person', NULL, false),
    ('rccc', 'clinic', 'Last', 'sot_people', 'last_name', 'direct',
     'find_or_create_person', NULL, false),
    -- as the installed ClinicHQ rules map them: the email as typed, the phone transformed,
    -- the second phone as typed (the engine normalises every identifier it is given)
    ('rccc', 'clinic', 'Email', 'sot_people', 'email', 'direct',
     'find_or_create_person', NULL, false),
    ('rccc', 'clinic', 'Phone', 'sot_people', 'phone', 'transform',
     'find_or_create_person', 'norm_phone_us($1)', false),
    ('rccc', 'clinic', 'Alt Phone', 'sot_people', 'cell', 'direct',
     'find_or_create_person', NULL, false),
    ('rccc', 'clinic', 'Cat Name', 'sot_cats', 'name', 'direct',
     'find_or_create_cat_by_microchip', NULL, false),
    ('rccc', 'clinic', 'Microchip', 'sot_cats', 'microchip', 'direct',
     'find_or_create_cat_by_microchip', NULL, false),
    ('rccc', 'requests', 'Where are the cats? (address)', 'places', 'formatted_address',
     'function_call', 'find_or_create_place_deduped', NULL, false),
    ('rccc', 'requests', 'Your name', 'sot_people', 'full_name', 'direct',
     'find_or_create_person', NULL, false),
    ('rccc', 'requests', 'Email', 'sot_people', 'email', 'transform',
     'find_or_create_person', 'norm_email($1)', false),
    ('rccc', 'requests', 'Phone number', 'sot_people', 'phone', 'direct',
     'find_or_create_person', NULL, false),
    ('rccc', 'requests', 'How many cats?', 'place_colony_estimates', 'total_cats', 'transform',
     NULL, 'to_count($1)', false);
"""

Key = tuple[str, str]   # (source table, source row id)


@dataclass
class Scores:
    """What the load made of the set, against the truth."""
    people: tuple[float, float]
    places: tuple[float, float]
    cats: tuple[float, float]
    non_people_made_people: list[Key]
    wrong_merges: list[tuple[str, str, str]] = field(default_factory=list)  # (class, a, b)
    missed: list[tuple[str, str, str]] = field(default_factory=list)        # (class, true id, why)


def truth_rows() -> list[dict[str, str]]:
    with (HERE / "truth.csv").open() as f:
        return list(csv.DictReader(f))


def load(url: str, run: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    """Register the two sources, ingest both files and process the queue, through the CLI
    (``run`` is tests.conftest.run_cli or a twin)."""
    execute(url, SOURCES)
    env = {"DATABASE_URL": url}
    for table, name in (("clinic", "clinic.csv"), ("requests", "requests.csv")):
        done = run("ingest", f"{SYSTEM}/{table}", str(HERE / name), env=env)
        assert done.returncode == 0, done.stderr
    done = run("process", env=env)
    assert done.returncode == 0, done.stderr


def _predicted(url: str, entity: str, canonical: str) -> dict[Key, str]:
    rows = sql(url, f"""
        SELECT DISTINCT ON (source_table, source_row_id) source_table, source_row_id,
               trapper.{canonical}(entity_id)::text AS eid
        FROM trapper.entity_sources WHERE entity_type = $1 AND source_system = $2
        ORDER BY source_table, source_row_id, entity_source_id""", entity, SYSTEM)
    return {(r["source_table"], r["source_row_id"]): r["eid"] for r in rows}


def score(url: str) -> Scores:
    """Score the loaded set; list each wrong merge and missed match with its class."""
    rows = truth_rows()
    people = _predicted(url, "person", "get_canonical_person_id")
    places = _predicted(url, "place", "get_canonical_place_id")
    cats = _predicted(url, "cat", "get_canonical_cat_id")
    person_truth = {(r["source_table"], r["source_row_id"]): r["person"] for r in rows
                    if r["person"].startswith("p-")}
    place_truth = {(r["source_table"], r["source_row_id"]): r["place"] for r in rows if r["place"]}
    cat_truth = {(r["source_table"], r["source_row_id"]): r["cat"] for r in rows if r["cat"]}
    made = [(r["source_table"], r["source_row_id"]) for r in rows
            if not r["person"].startswith("p-")
            and (r["source_table"], r["source_row_id"]) in people]
    s = Scores(pairwise(person_truth, people)[:2], pairwise(place_truth, places)[:2],
               pairwise(cat_truth, cats)[:2], made)
    cls = {(r["source_table"], r["source_row_id"]): r["class"] for r in rows}
    by_pred: dict[str, set[str]] = defaultdict(set)
    by_true: dict[str, set[str]] = defaultdict(set)
    for k, t in person_truth.items():
        by_true[t].add(people.get(k) or f"none:{k}")
        by_pred[people.get(k) or f"none:{k}"].add(t)
    for pred, trues in by_pred.items():
        if len(trues) > 1:
            ks = [k for k, t in person_truth.items() if t in trues]
            s.wrong_merges.append((cls[ks[0]], " + ".join(sorted(trues)), pred))
    for t, preds in by_true.items():
        if len(preds) > 1:
            ks = [k for k, tt in person_truth.items() if tt == t]
            why = sql(url, """
                SELECT string_agg(d.source_row_id || ': ' || d.decision_type || ' ' ||
                                  d.decision_reason, ' | ' ORDER BY d.decision_id)
                FROM trapper.data_engine_match_decisions d
                WHERE d.source_system = $1 AND (d.source_table, d.source_row_id) IN (
                    SELECT * FROM unnest($2::text[], $3::text[]))""",
                      SYSTEM, [k[0] for k in ks], [k[1] for k in ks])[0][0]
            s.missed.append((cls[ks[0]], t, why or ""))
    return s


def main() -> None:
    from tests.conftest import run_cli
    url = os.environ["DATABASE_URL"]
    if "--score-only" not in sys.argv:
        load(url, run_cli)
    s = score(url)
    for name, (p, r) in (("people", s.people), ("places", s.places), ("cats", s.cats)):
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        print(f"{name:7s} pairwise precision {p:.4f} recall {r:.4f} F1 {f1:.4f}")
    print(f"rows naming no person that made a person: {s.non_people_made_people}")
    for c, trues, pred in sorted(s.wrong_merges):
        print(f"WRONG MERGE [{c}] {trues} -> {pred}")
    for c, t, why in sorted(s.missed):
        print(f"MISSED [{c}] {t}: {why}")


if __name__ == "__main__":
    main()
