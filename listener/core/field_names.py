"""One comparison key for field names, shared by ingest's header renaming and the rules
check's hints, so that both call the same two names the same."""

from __future__ import annotations

import unicodedata


def field_key(name: str) -> str:
    """A field name without case, accents, spaces or punctuation: ``SPAY/NEUTER STATUS``,
    ``Spay Neuter Status`` and ``Name -  FirstName`` (VolunteerHub's doubled space) each give
    the key of the name a processor reads, and ``Teléfono`` the key of ``Telefono``."""
    folded = unicodedata.normalize("NFKD", name).casefold()
    return "".join(c for c in folded if c.isalnum())
