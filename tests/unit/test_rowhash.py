"""The one row-hash recipe: a re-export of unchanged rows hashes the same, a changed value or
another record does not."""

from __future__ import annotations

from listener.ingest.rowhash import canonical, row_hash


def test_a_re_export_hashes_the_same_whatever_its_order_spacing_and_empty_fields() -> None:
    first = {"Number": "25-1", "Name": "Ann Lee", "Notes": ""}
    again = {" Name ": "Ann Lee  ", "Number": " 25-1", "Empty": None, "Blank": "   "}
    assert row_hash(first, "25-1") == row_hash(again, "25-1")
    assert canonical(first) == '{"Name":"Ann Lee","Number":"25-1"}'


def test_a_changed_value_or_another_record_is_another_hash() -> None:
    row = {"Number": "25-1", "Name": "Ann Lee"}
    assert row_hash(row, "25-1") != row_hash({**row, "Name": "Ann Leigh"}, "25-1")
    assert row_hash(row, "25-1") != row_hash(row, "25-2")
    assert row_hash(row, "25-1") != row_hash({**row, "name": "Ann Lee"}, "25-1")


def test_the_hash_is_128_bits_of_hex_and_nested_values_count() -> None:
    digest = row_hash({"a": [{"b": " x "}]}, None)
    assert len(digest) == 32 and int(digest, 16) >= 0
    assert digest == row_hash({"a": [{"b": "x"}]}, None)
    assert digest != row_hash({"a": [{"b": "y"}]}, None)
