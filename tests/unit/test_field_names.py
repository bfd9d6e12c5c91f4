"""field_key: the one comparison key for field names (ingest's header renaming and the rules
check's hints)."""

from __future__ import annotations

import pytest

from listener.core.field_names import field_key
from listener.ingest.rows import Row
from listener.ingest.source_profiles import HeaderMapper, profile_for


@pytest.mark.parametrize(("a", "b"), [
    ("SPAY/NEUTER STATUS", "Spay Neuter Status"),
    ("Name -  FirstName", "Name - FirstName"),
    ("Teléfono", "Telefono"),          # the ingest key had dropped the é, not folded it
    ("ＺＩＰ", "Zip"),                  # full-width letters, as some exports write them
    ("\ufeffNumber", "Number"),        # a byte-order mark left on the first header
])
def test_names_that_differ_in_case_accents_spacing_or_punctuation_share_a_key(
        a: str, b: str) -> None:
    assert field_key(a) == field_key(b)


def test_other_names_keep_their_own_key() -> None:
    assert field_key("Owner Phone") != field_key("Owner Cell Phone")
    assert field_key("Número") != field_key("Nmero")


def test_the_header_mapper_renames_an_accented_or_full_width_header() -> None:
    mapper = HeaderMapper(profile_for("clinichq", "owner_info"))
    row = Row(1, b"")
    row.payload = {"ＮＵＭＢＥＲ": "7", "Owner Émail": "a@b.org"}
    [out] = mapper([row])
    assert out.payload == {"Number": "7", "Owner Email": "a@b.org"}
