"""A peer for bench/identity.py: the same person records linked by Splink 5 (DuckDB backend).

Issue 17 asks for our people F1 beside a well-kept probabilistic linker's, in the same run, on
the same records. Splink is a bench-only dependency (``pip install -e '.[bench]'``); without it
identity.py prints one line and goes on.

Input: the staged payloads of every table our processors make people from (read from the
loaded database's ``trapper.staged_records``, the first version of each source row, as our
engines saw them), with the fields each processor passes to ``process_person_fields``
(sql/core/functions/processors.sql) and the light cleaning Splink's documentation asks for
before linking (lower case, trimmed, empty → null, phone digits). No project knowledge beyond
that: no placeholder lists, no address standard, no nickname table.

Model, as Splink's documentation recommends for people (the "deduplicate 50k synthetic"
example and the topic guides on blocking, comparisons and training): ``dedupe_only``;
prediction blocking rules on email, phone, first name + surname, surname + ZIP and street +
ZIP; comparisons NameComparison (first name, surname, with term frequencies),
EmailComparison, an exact-phone level (array intersection of the record's phones), street
(exact with term frequencies, then Jaro-Winkler) and exact ZIP; the prior from deterministic
rules, u by random sampling, m by expectation maximisation on two blocking rules; pairs
predicted and clustered (connected components) at a match probability threshold.

The scorer is identity.py's own ``pairwise``: it receives {source key: cluster id} exactly like
our engines' figures.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

SourceKey = tuple[str, str, str]

# The Splink match probability at which pairs join a cluster. The documentation's examples
# cluster at 0.9–0.95; 0.9 is fixed here before seeing the scores (a sweep is printed beside
# it, labelled as chosen with the ground truth).
THRESHOLD = 0.9
SWEEP = (0.5, 0.99)
U_MAX_PAIRS = 1e7      # the docs: 1e7 "often adequate", 1e8–1e9 for a final model


@dataclass(frozen=True)
class Fields:
    """Where a source table keeps a person's fields (mirrors processors.sql)."""

    first: tuple[str, ...] = ()
    last: tuple[str, ...] = ()
    full_name: tuple[str, ...] = ()          # "First Last", split at the first space
    email: tuple[str, ...] = ()              # first non-empty
    phones: tuple[str, ...] = ()             # all non-empty
    # alternatives, first that gives text wins; each joined with ", "
    address: tuple[tuple[str, ...], ...] = field(default_factory=tuple)


# The fields process_person_fields receives in sql/core/functions/processors.sql, per table.
SOURCES: dict[tuple[str, str], Fields] = {
    ("clinichq", "owner_info"): Fields(
        ("Owner First Name",), ("Owner Last Name",), (), ("Owner Email",),
        ("Owner Phone", "Owner Cell Phone"), (("Owner Address",),)),
    ("shelterluv", "people"): Fields(
        ("Firstname",), ("Lastname",), (), ("Email",), ("Phone",),
        (("Street", "City", "State", "Zip"),)),
    ("shelterluv", "outcomes"): Fields(
        (), (), ("Outcome To Person Name",), ("Outcome To Person Email",),
        ("Outcome To Person Phone",),
        (("Outcome To Person Street Address 1", "Outcome To Person City",
          "Outcome To Person State", "Outcome To Person Zip"),)),
    ("petlink", "owners"): Fields(
        ("First Name",), ("Last Name",), (), ("Email",), (),
        (("Address", "City", "State", "Zip Code"),)),
    ("petlink", "pets"): Fields(("First Name",), ("Owner",), (), ("Email",)),
    ("volunteerhub", "users"): Fields(
        ("Name - FirstName",), ("Name - LastName",), (), ("Email",),
        ("Home Phone", "Mobile Phone"),
        (("Street Address - Address1", "Street Address - City", "Street Address - State",
          "Street Address - PostalCode"),)),
    ("airtable", "trappers"): Fields((), (), ("Name",), ("Email",), (), (("Address",),)),
    ("airtable", "trapping_requests"): Fields(
        ("First Name",), ("Last Name",), (), ("Clean Email", "Client Email (LK)"),
        ("Clean Phone",)),
    ("airtable", "appointment_requests"): Fields(
        ("First Name",), ("Last Name",), (), ("Email",), ("Best phone number to reach you",),
        (("Clean Address",), ("Your address", "Your city", "Your Zip Code"))),
    ("web_intake", "submissions"): Fields(
        ("first_name",), ("last_name",), (), ("email",), ("phone",),
        (("requester_address", "requester_city", "requester_zip"),)),
    ("atlas_ui", "manual_entry"): Fields(
        ("first_name",), ("last_name",), (), ("email",), ("phone",), (("address",),)),
}


def guess_fields(keys: Iterable[str]) -> Fields:
    """Fields of a table this module has no entry for (a shape added to the world later),
    guessed from its column names; the caller says which tables were guessed."""
    ks = list(keys)

    def pick(pattern: str, avoid: str = r"cat|animal|pet name|^name$") -> tuple[str, ...]:
        return tuple(k for k in ks if re.search(pattern, k, re.I) and not re.search(avoid, k, re.I))

    first, last = pick(r"first"), pick(r"last|surname")
    full = () if first else pick(r"name", r"first|last|cat|animal|user|file")
    parts = pick(r"street|address|city|state|zip|postal", r"cat|animal|email|clean address \(")
    return Fields(first, last, full, pick(r"e-?mail"), pick(r"phone|cell|mobile"),
                  (parts,) if parts else ())


def _text(payload: Mapping[str, Any], key: str) -> str:
    v = payload.get(key)
    return "" if v is None else str(v).strip()


def _first(payload: Mapping[str, Any], keys: Sequence[str]) -> str:
    return next((t for t in (_text(payload, k) for k in keys) if t), "")


def _name(text: str) -> str | None:
    t = re.sub(r"[^a-z' -]", "", text.lower()).strip()
    return re.sub(r"\s+", " ", t) or None


def _phone(text: str) -> str | None:
    d = re.sub(r"\D", "", text)
    if len(d) == 11 and d.startswith("1"):
        d = d[1:]
    return d if len(d) == 10 else None


def _clean_address(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[.#]", "", text.lower())).strip()


ZIP = re.compile(r"\b(\d{5})(?:-\d{4})?\s*$")


def record(key: SourceKey, payload: Mapping[str, Any], f: Fields) -> dict[str, Any]:
    """One Splink input row: the person fields of ``payload``, cleaned as Splink's docs ask."""
    first, last = _first(payload, f.first), _first(payload, f.last)
    if not first and not last and f.full_name:
        full = _first(payload, f.full_name)
        first, _, last = full.partition(" ")
    email = _first(payload, f.email).lower()
    phones = sorted({p for p in (_phone(_text(payload, k)) for k in f.phones) if p})
    address, street = "", ""
    for group in f.address:
        address = ", ".join(t for t in (_text(payload, k) for k in group) if t)
        if address:
            # a street column of its own, or a one-line address's text before its first comma
            street = _text(payload, group[0]) if len(group) > 1 else address.split(",")[0]
            break
    addr = _clean_address(address)
    zip_match = ZIP.search(addr)
    street = _clean_address(street)
    return {
        "source_system": key[0], "source_table": key[1], "source_row_id": key[2],
        "first_name": _name(first), "surname": _name(last),
        "email": email if "@" in email else None,
        "phones": phones or None,
        "street": street if re.search(r"[a-z]", street) else None,
        "zip": zip_match.group(1) if zip_match else None,
    }


def build_records(rows: Iterable[tuple[str, str, str, Mapping[str, Any]]]
                  ) -> tuple[list[dict[str, Any]], list[str]]:
    """Splink input rows from staged (system, table, row id, payload) rows: the first version
    of each source row of each table that makes people; and the tables whose fields were
    guessed."""
    out: list[dict[str, Any]] = []
    seen: set[SourceKey] = set()
    guessed: dict[tuple[str, str], Fields] = {}
    for system, table, rid, payload in rows:
        key = (system, table, rid)
        if key in seen:
            continue
        seen.add(key)
        f = SOURCES.get((system, table))
        if f is None:
            if (system, table) not in guessed:
                guessed[(system, table)] = guess_fields(payload.keys())
            f = guessed[(system, table)]
        rec = record(key, payload, f)
        rec["unique_id"] = len(out)
        out.append(rec)
    return out, [f"{s}/{t}" for s, t in guessed]


def engine_input(payload: Mapping[str, Any], f: Fields) -> dict[str, Any]:
    """The fields of ``payload`` as our engine's person entry point takes them
    (trapper.find_or_create_person): as typed, uncleaned, from the same columns Splink reads;
    the first two phone columns as phone and cell, the address parts joined with ", "."""
    first, last = _first(payload, f.first), _first(payload, f.last)
    if not first and not last and f.full_name:
        first, _, last = _first(payload, f.full_name).partition(" ")
    phones = [_text(payload, k) for k in f.phones] + ["", ""]
    address = ""
    for group in f.address:
        address = ", ".join(t for t in (_text(payload, k) for k in group) if t)
        if address:
            break
    return {"first": first or None, "last": last or None,
            "email": _first(payload, f.email) or None, "phone": phones[0] or None,
            "cell": phones[1] or None, "address": address or None}


@dataclass
class PeerResult:
    """Splink's clusters at the threshold, the sweep, and what it cost."""

    predicted: dict[SourceKey, str]
    sweep: dict[float, dict[SourceKey, str]]
    seconds: float
    records: int
    pairs_scored: int
    guessed: list[str]


def link(records: list[dict[str, Any]]) -> PeerResult:
    """Train a Splink model on ``records``, predict, cluster; the time covers all of it."""
    import logging

    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    logging.getLogger("splink").setLevel(logging.WARNING)
    t = time.perf_counter()
    columns: dict[str, list[Any]] = {
        c: [r[c] for r in records]
        for c in ("unique_id", "first_name", "surname", "email", "phones", "street", "zip")}
    db_api = DuckDBAPI()
    df = db_api.register(columns, dataset_display_name="people")
    settings = SettingsCreator(
        link_type="dedupe_only",
        blocking_rules_to_generate_predictions=[
            block_on("email"),
            block_on("phones", arrays_to_explode=["phones"]),
            block_on("first_name", "surname"),
            block_on("surname", "zip"),
            block_on("street", "zip"),
        ],
        comparisons=[
            cl.NameComparison("first_name"),
            cl.NameComparison("surname"),
            cl.EmailComparison("email"),
            cl.ArrayIntersectAtSizes("phones", [1]),
            cl.JaroWinklerAtThresholds("street", [0.95, 0.88]).configure(
                term_frequency_adjustments=True),
            cl.ExactMatch("zip").configure(term_frequency_adjustments=True),
        ],
        retain_intermediate_calculation_columns=False,
    )
    linker = Linker(df, settings, log_level=logging.WARNING)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("email"), block_on("first_name", "surname", "zip")], recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=U_MAX_PAIRS, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("first_name", "surname"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("email"))
    scored = linker.inference.predict(threshold_match_probability=min((THRESHOLD, *SWEEP)))
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        scored, threshold_match_probability=THRESHOLD)
    predicted = _clusters(records, clusters.as_record_list())
    seconds = time.perf_counter() - t
    n_pairs = int(scored.query_sql("SELECT count(*) AS n FROM {this}").as_record_list()[0]["n"])
    sweep = {}
    for th in SWEEP:
        c = linker.clustering.cluster_pairwise_predictions_at_threshold(
            scored, threshold_match_probability=th)
        sweep[th] = _clusters(records, c.as_record_list())
    return PeerResult(predicted, sweep, seconds, len(records), n_pairs, [])


def _clusters(records: list[dict[str, Any]], rows: list[dict[str, Any]]) -> dict[SourceKey, str]:
    by_id = {r["unique_id"]: r for r in records}
    out: dict[SourceKey, str] = {}
    for row in rows:
        r = by_id[int(row["unique_id"])]
        out[(r["source_system"], r["source_table"], r["source_row_id"])] = \
            f"splink:{row['cluster_id']}"
    return out


async def staged_person_rows(conn: Any, tables: Iterable[tuple[str, str]]
                             ) -> list[tuple[str, str, str, dict[str, Any]]]:
    """The staged payloads of ``tables``, oldest version first, as our processors read them."""
    import json

    systems, names = zip(*sorted(set(tables)), strict=True)
    rows = await conn.fetch(
        "SELECT s.source_system, s.source_table, s.source_row_id, s.payload::text "
        "FROM trapper.staged_records s "
        "JOIN unnest($1::text[], $2::text[]) AS t(system, name) "
        "  ON s.source_system = t.system AND s.source_table = t.name "
        "ORDER BY s.id", list(systems), list(names))
    return [(r[0], r[1], r[2], json.loads(r[3])) for r in rows]


async def run(conn: Any, truth: Mapping[SourceKey, str]) -> PeerResult | str:
    """Link the person-bearing staged records with Splink; a one-line reason if it cannot."""
    try:
        import splink  # noqa: F401
    except ImportError:
        return "peer: splink is not installed (pip install -e '.[bench]'); skipped"
    rows = await staged_person_rows(conn, {(k[0], k[1]) for k in truth})
    records, guessed = build_records(rows)
    result = link(records)
    result.guessed = guessed
    return result


Scorer = Callable[[Mapping[SourceKey, str], Mapping[SourceKey, str]], tuple[float, float, int]]


def f1(precision: float, recall: float) -> float:
    """The harmonic mean, 0 when both are 0."""
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


async def report(conn: Any, truth: Mapping[SourceKey, str], score: Scorer,
                 times: Mapping[str, float]) -> float | None:
    """Run the peer and print its people figures beside ours (``times``: our phases); its
    seconds, for the ratios of ours on people alone (None when it could not run)."""
    result = await run(conn, truth)
    if isinstance(result, str):
        print(result)
        return None
    import splink

    p, r, _ = score(truth, result.predicted)
    ours = times.get("process", 0.0) + times.get("link", 0.0)
    print(f"peer    Splink {splink.__version__} (DuckDB) people pairwise precision {p:.4f} "
          f"recall {r:.4f} F1 {f1(p, r):.4f} at match probability {THRESHOLD}; "
          f"predicted entities {len({result.predicted[k] for k in truth}):,}; "
          f"{result.records:,} records, {result.pairs_scored:,} pairs scored")
    print(f"peer    time: Splink {result.seconds:.1f}s (prepare, train, predict, cluster; "
          f"people only) vs ours {ours:.1f}s (process + link: people, places, cats, requests; "
          f"ingest {times.get('ingest', 0.0):.1f}s more, which Splink was spared)")
    sweep = ", ".join(f"{th}: F1 {f1(*score(truth, pred)[:2]):.4f}"
                      for th, pred in sorted(result.sweep.items()))
    print(f"peer    other thresholds (chosen with the ground truth, for reference): {sweep}")
    if result.guessed:
        print(f"peer    fields guessed from column names for: {', '.join(result.guessed)}")
    return result.seconds
