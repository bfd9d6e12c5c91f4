"""The SQL normalisers against the well-kept libraries, on a generated corpus. Every
disagreement is either fixed or falls in a class listed here, with the reason."""

from __future__ import annotations

import random

import email_validator
import phonenumbers

from tests.helpers import sql


def _phone_corpus(n: int = 3000) -> list[str]:
    rng = random.Random(11)
    out = []
    for _ in range(n):
        area = rng.choice(["707", "415", "510", "925", "212", "123", "011", "811", "999"])
        exch = rng.choice([str(rng.randint(200, 999)), "555", "011", str(rng.randint(100, 199))])
        line = f"{rng.randint(0, 9999):04d}"
        d = area + exch + line
        out.append(rng.choice([
            f"({area}) {exch}-{line}", f"{area}-{exch}-{line}", d, f"+1 {area} {exch} {line}",
            f"1-{area}-{exch}-{line}", f"{area}.{exch}.{line}", f"{area} {exch} {line} cell",
            f"({area}) {exch}-{line} x12", f"{exch}-{line}", f"{d}9",
        ]))
    return out


def _library_phone(raw: str) -> str | None:
    text = raw.replace(" cell", "")
    try:
        num = phonenumbers.parse(text, "US")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(num) or num.country_code != 1:
        return None
    return str(num.national_number)


def test_norm_phone_us_agrees_with_phonenumbers(db_url: str) -> None:
    corpus = _phone_corpus()
    ours = {r["raw"]: r["norm"] for r in sql(
        db_url, "SELECT raw, trapper.norm_phone_us(raw) AS norm FROM unnest($1::text[]) raw",
        corpus)}
    disagreements: dict[str, list[str]] = {}
    for raw in corpus:
        lib = _library_phone(raw)
        mine = ours[raw]
        if lib == mine:
            continue
        digits = mine or lib or ""
        if mine is None and lib is not None and (digits[3:8] == "55501"
                                                 or digits[3:] == "5551212"):
            kind = "555 fiction lines refused by us"       # deliberate: not a person's
        elif mine is not None and lib is None and digits[:3] in ("999", "212"):
            kind = "area code phonenumbers has no metadata for"  # structural check only
        elif mine is not None and lib is None:
            kind = "structurally valid, unassigned in the numbering plan"
        else:
            kind = "unexplained"
        disagreements.setdefault(kind, []).append(raw)
    assert "unexplained" not in disagreements, disagreements.get("unexplained", [])[:10]
    # the known classes stay small: most of the corpus agrees
    assert sum(map(len, disagreements.values())) < len(corpus) * 0.25


def test_a_555_number_is_a_number_but_the_fiction_lines(db_url: str) -> None:
    """The whole 555 exchange was refused, so a person known by "707-555-1234" alone was
    rejected; only 555-0100 to 555-0199 (kept for fiction) and 555-1212 are no one's."""
    got = dict(sql(db_url, "SELECT raw, trapper.norm_phone_us(raw) FROM unnest($1::text[]) raw",
                   ["707-555-1234", "(415) 555-9876", "707-555-0100", "707.555.0199",
                    "707-555-1212", "707-555-0200"]))
    assert got == {"707-555-1234": "7075551234", "(415) 555-9876": "4155559876",
                   "707-555-0100": None, "707.555.0199": None, "707-555-1212": None,
                   "707-555-0200": "7075550200"}


def test_a_local_number_of_one_digit_repeated_is_a_placeholder(db_url: str) -> None:
    """555-555-5555 typed for two people of one surname made one a household member of the
    other (the steward's file, tests/test_steward.py): a number whose seven local digits are
    one digit repeated is refused, with its reason; a number with the digit once fewer is not."""
    values = ["555-555-5555", "(707) 555-5555", "707-222-2222", "+1 415 999 9999",
              "999-999-9999", "707-555-5556", "707-222-2223", "707-522-2222"]
    rows = {r["raw"]: r for r in sql(db_url, """
        SELECT raw, trapper.usable_phone(raw) AS usable,
               trapper.identifiers_refused(NULL, ARRAY[raw]) AS said
        FROM unnest($1::text[]) raw""", values)}
    refused = {raw for raw, r in rows.items() if r["usable"] is None}
    assert refused == {"555-555-5555", "(707) 555-5555", "707-222-2222", "+1 415 999 9999",
                       "999-999-9999"}
    assert rows["(707) 555-5555"]["said"] == (
        "phone 7075555555 is on the identity blocklist (a placeholder: one digit repeated)")
    assert all(r["said"] is None for raw, r in rows.items() if raw not in refused)


def _email_corpus() -> list[str]:
    rng = random.Random(5)
    locals_ = ["ann", "Ann.Lee", "a+tag", "x_y", "o'brien", "dots..dots", ".lead", "trail.",
               "sp ace", "ünï"]
    domains = ["gmail.com", "Sonic.NET", "x.co", "localhost", "bad_domain.com", "a.b.c.org",
               "-dash.com", "example", "xn--bcher-kva.ch"]
    out = [f"{rng.choice(locals_)}@{rng.choice(domains)}" for _ in range(2000)]
    return [*out, "none", "", "@@", "a@", "@b.com", " ann@gmail.com "]


def _library_email(raw: str) -> str | None:
    try:
        v = email_validator.validate_email(raw.strip(), check_deliverability=False)
    except email_validator.EmailNotValidError:
        return None
    return v.normalized.lower()


def test_norm_email_agrees_with_email_validator(db_url: str) -> None:
    corpus = _email_corpus()
    ours = {r["raw"]: r["norm"] for r in sql(
        db_url, "SELECT raw, trapper.norm_email(raw) AS norm FROM unnest($1::text[]) raw",
        corpus)}
    unexplained = []
    for raw in corpus:
        lib, mine = _library_email(raw), ours[raw]
        if lib == mine:
            continue
        local = raw.strip().split("@")[0]
        if mine is None and lib is not None and not local.isascii():
            continue   # internationalised local parts: refused by us, rare in this data
        if "xn--" in raw:
            continue   # punycode domains: the library decodes them to Unicode, we keep ASCII
        if lib is None and mine is not None and "'" in local:
            continue   # never reached: the library accepts o'brien; kept for clarity
        unexplained.append((raw, lib, mine))
    assert not unexplained, unexplained[:10]


def test_validate_microchip_formats(db_url: str) -> None:
    cases = {
        "981 020 012 345 678": "981020012345678", "981-020012-345678": "981020012345678",
        "98102001234567": "98102001234567", "123456781": "123456781", "1A2B3C4D5E": "1A2B3C4D5E",
        "000000000000000": None, "111111111111111": None, "123456789": None, "A123456": None,
        "N/A": None, "9001234981020012345678": "981020012345678", "12345678901234567": None,
        "12345": None, "064*532*870": "064532870", "9.8102E+14": None,
    }
    rows = sql(db_url, "SELECT raw, trapper.validate_microchip(raw) AS chip "
                       "FROM unnest($1::text[]) raw", list(cases))
    assert {r["raw"]: r["chip"] for r in rows} == cases


def test_parse_us_date_reads_only_dates_the_exports_write(db_url: str) -> None:
    """ISO and US dates (two-digit years by PostgreSQL's and Excel's rule), with a time or
    not; the words PostgreSQL's date input takes ('yesterday', 'epoch', 'infinity') and a text
    whose first ten characters happen to parse ('March 3, 2025' was 2002-03-03) are no date
    (a month's name is read whole, tests/test_values.py):
    a processed record must not take the day it was processed as its own."""
    cases = {
        "2025-03-14": "2025-03-14", "2025-03-14T10:00:00Z": "2025-03-14",
        "3/14/2025": "2025-03-14", " 03/14/2025 10:22 ": "2025-03-14", "3/14/25": "2025-03-14",
        "12/31/69": "2069-12-31", "1/1/70": "1970-01-01",
        "yesterday": None, "today": None, "now": None, "epoch": None, "infinity": None,
        "March 3, 2025": "2025-03-03", "2/30/2025": None, "13/1/2025": None,
        "3/14/2025x": None,
        "20250314": None, "": None,
        # a date column saved as numbers: Excel's serial, only in 1954-2119
        "45730": "2025-03-14", "45730.0": "2025-03-14", "12345": None, "99999": None,
    }
    got = {r["raw"]: r["d"] for r in sql(
        db_url, "SELECT raw, trapper.parse_us_date(raw)::text AS d FROM unnest($1::text[]) raw",
        list(cases))}
    assert got == cases


def test_phones_and_emails_as_exports_write_them(db_url: str) -> None:
    """A phone column read from a spreadsheet as a float, an extension, a +1; an email as a
    mailto link, in capitals or padded: each is the same identifier as the plain form."""
    phones = {"(707) 523-1234": "7075231234", "707.523.1234": "7075231234",
              "+1 707 523 1234": "7075231234", "7075231234.0": "7075231234",
              "17075231234.0": "7075231234", "707-523-1234 ext 5": "7075231234",
              "7075231234.5": None, "707523123.0": None}
    got = {r["raw"]: r["n"] for r in sql(
        db_url, "SELECT raw, trapper.norm_phone_us(raw) AS n FROM unnest($1::text[]) raw",
        list(phones))}
    assert got == phones
    emails = {"mailto:Ann@X.org": "ann@x.org", " MAILTO: ann@x.org ": "ann@x.org",
              "ANN@X.ORG ": "ann@x.org", "none": None, "mailto:": None,
              # pasted from a web page or a cell: a no-break space, a zero-width space, a
              # line break (staged so before ingest tidied them, or by another writer)
              "ann@x.org\u00a0": "ann@x.org", "\u200bAnn@x.org": "ann@x.org",
              "ann@x.org\r\n": "ann@x.org", "\tann@x\u200b.org\ufeff": "ann@x.org",
              "ann\u00a0@x.org": None}
    got = {r["raw"]: r["n"] for r in sql(
        db_url, "SELECT raw, trapper.norm_email(raw) AS n FROM unnest($1::text[]) raw",
        list(emails))}
    assert got == emails


def test_payload_int_reads_counts_as_people_type_them(db_url: str) -> None:
    cases = {"5": 5, "5.0": 5, "~5": 5, "about 12": 12, "5+": 5, "10 cats": 10, "3-4": 4,
             "3 to 4": 4, "a few": None, "lots": None, "-3": None, "": None, "3.5": None}
    got = {r["raw"]: r["n"] for r in sql(
        db_url, "SELECT raw, trapper.payload_int(raw) AS n FROM unnest($1::text[]) raw",
        list(cases))}
    assert got == cases
