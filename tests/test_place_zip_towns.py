"""A ZIP-only address and a town-only address of one place meet, whichever comes first
(issue 17; docs/identity.md, "Places": the ZIP rule, address_zip_towns, core 017).

Each case runs in every arrival order against the real PostgreSQL; the addresses are the
atlas world's that made extra places. Each order gets its own house number, so that the
orders do not see each other's places."""

from __future__ import annotations

import itertools

import anyio
import asyncpg
import pytest

FIND = "SELECT trapper.find_or_create_place_deduped($1)"
CANONICAL = "SELECT trapper.get_canonical_place_id($1)"


async def _places_of(url: str, addresses: list[str]) -> list[str]:
    """Each address's canonical place after all of them were given, in this order."""
    conn = await asyncpg.connect(url)
    try:
        made = [await conn.fetchval(FIND, a) for a in addresses]
        return [str(await conn.fetchval(CANONICAL, p)) for p in made]
    finally:
        await conn.close()


def places_of(url: str, addresses: list[str]) -> list[str]:
    return anyio.run(_places_of, url, addresses)


def in_every_order(url: str, forms: list[str], start: int = 1000) -> list[list[str]]:
    """The canonical places of ``forms`` (with ``{h}`` for the house number, ``start`` and
    up), per order."""
    out = []
    for i, order in enumerate(itertools.permutations(forms)):
        got = places_of(url, [f.format(h=start + i) for f in order])
        out.append([got[order.index(f)] for f in forms])   # back in the order of forms
    return out


def teach(url: str, addresses: list[str]) -> None:
    """Places elsewhere that write a ZIP with a town (how address_zip_towns learns)."""
    places_of(url, addresses)


# The atlas world's cases: a ZIP-only address (the note hid the town), the town with and
# without the ZIP, a directional one side leaves out, and no town at all.
ONE_PLACE = {
    "zip-only, then the town without its ZIP (9076 Todd Blvd)": [
        "{h}  Todd Boulevard across from the school Sonoma CA 95476",
        "{h} Todd Blvd., Sonoma, CA",
        "{h} Todd Blvd"],
    "zip-only, the town with and without its ZIP, no town (6514 Adams Ln)": [
        "{h} Adams Ln across from the school Cotati CA 94931",
        "{h} ADAMS LN, Cotati, CA",
        "{h} Adams Ln. Cotati CA 94931",
        "{h} Adams Ln"],
    "zip-only with a directional the town's address leaves out (5416 Lincoln Rd)": [
        "{h} Lincoln Rd., Santa Rosa, CA 95409",
        "{h} Lincoln Road Southwest near the park Santa Rosa CA 95409",
        "{h} Lincoln Road SW, Santa Rosa, CA, 95409, USA",
        "{h} Lincoln Rd SW, Santa Rosa, CA 95409"],
}


@pytest.mark.parametrize("forms", ONE_PLACE.values(), ids=ONE_PLACE.keys())
def test_a_zip_only_address_meets_its_town_in_every_order(core_db_url: str,
                                                          forms: list[str]) -> None:
    for got in in_every_order(core_db_url, forms):
        assert len(set(got)) == 1, got


def test_a_zip_only_address_meets_the_town_its_zip_belongs_to(core_db_url: str) -> None:
    # 95476 is written with Sonoma alone: the ZIP-only address is Sonoma's place
    teach(core_db_url, ["1 Broadway, Sonoma, CA 95476"])
    for got in in_every_order(core_db_url, ["{h} Napa St near the plaza Sonoma CA 95476",
                                            "{h} Napa St, Sonoma"]):
        assert got[0] == got[1]


def test_a_zip_of_another_town_stays_apart_in_every_order(core_db_url: str) -> None:
    # 95404 is Santa Rosa's: a ZIP-only 95404 address is not Petaluma's place
    teach(core_db_url, ["1 Main St, Santa Rosa, CA 95404"])
    for got in in_every_order(core_db_url, ["{h} Elm St near the park Santa Rosa CA 95404",
                                            "{h} Elm St, Petaluma"]):
        assert got[0] != got[1]


def test_a_zip_two_towns_share_joins_neither_in_every_order(core_db_url: str) -> None:
    # Cotati and Penngrove are both written with 94931: a ZIP-only address is not taken
    # for a town-only place of either (never a merge across an ambiguous ZIP)
    teach(core_db_url, ["1 Main St, Cotati, CA 94931", "1 Main St, Penngrove, CA 94931"])
    for got in in_every_order(core_db_url, ["{h} Elm St near the park Cotati CA 94931",
                                            "{h} Elm St, Penngrove"]):
        assert got[0] != got[1]
    for got in in_every_order(core_db_url, ["{h} Oak St near the park Cotati CA 94931",
                                            "{h} Oak St, Cotati"]):
        assert got[0] != got[1]
    # both towns' places with the ZIP there: a ZIP-only mention takes neither
    a, b, z = places_of(core_db_url, ["5 Elm St, Cotati, CA 94931",
                                      "5 Elm St, Penngrove, CA 94931",
                                      "5 Elm St near the park Cotati CA 94931"])
    assert z not in (a, b) and a != b


def test_another_unit_or_house_stays_apart(core_db_url: str) -> None:
    for got in in_every_order(core_db_url, ["{h} Todd Blvd Apt 2 near the park Sonoma CA 95476",
                                            "{h} Todd Blvd, Sonoma"]):
        assert got[0] != got[1]


async def _two_workers(url: str, first: str, second: str) -> tuple[str, str]:
    """Worker A makes ``first`` and holds its transaction open while worker B makes
    ``second``; then A commits, and B's transaction ends. The canonical places of both."""
    a = await asyncpg.connect(url)
    b = await asyncpg.connect(url)
    try:
        ta = a.transaction()
        await ta.start()
        pa = await a.fetchval(FIND, first)
        result: dict[str, object] = {}

        async def worker_b() -> None:
            async with b.transaction():
                result["b"] = await b.fetchval(FIND, second)

        async with anyio.create_task_group() as tg:
            tg.start_soon(worker_b)
            # B takes the lock of this address before it makes a place: wait until it waits
            # on A (at most ~10 s: were it not to wait, its place is made without A's and
            # the assertions below fail)
            for _ in range(100):
                if await a.fetchval(
                        "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 "
                        "AND wait_event_type = 'Lock'", b.get_server_pid()):
                    break
                await anyio.sleep(0.1)
            await ta.commit()
        return (str(await a.fetchval(CANONICAL, pa)),
                str(await a.fetchval(CANONICAL, result["b"])))
    finally:
        await a.close()
        await b.close()


@pytest.mark.parametrize("first,second", [
    ("6514 Adams Ln across from the school Cotati CA 94931", "6514 Adams Ln. Cotati CA 94931"),
    ("6514 Adams Ln. Cotati CA 94931", "6514 Adams Ln across from the school Cotati CA 94931"),
    ("5416 Lincoln Rd., Santa Rosa, CA 95409", "5416 Lincoln Rd SW, Santa Rosa, CA 95409"),
], ids=["zip-only first", "town first", "directional"])
def test_two_workers_making_one_place_at_once_meet(core_db_url: str, first: str,
                                                   second: str) -> None:
    pa, pb = anyio.run(_two_workers, core_db_url, first, second)
    assert pa == pb


async def _a_pair_being_written(url: str) -> tuple[object, int]:
    """A writes a new ZIP and town pair in an open transaction; B, in its own, makes another
    place of the same pair with a lock_timeout: its place, and the pairs after A commits."""
    a = await asyncpg.connect(url)
    b = await asyncpg.connect(url)
    try:
        ta = a.transaction()
        await ta.start()
        await a.fetchval(FIND, "10 Oak St, Petaluma, CA 94952")
        await b.execute("SET lock_timeout = '1s'")
        made = await b.fetchval(FIND, "20 Elm St, Petaluma, CA 94952")
        await ta.commit()
        pairs = await a.fetchval("SELECT count(*) FROM trapper.address_zip_towns "
                                 "WHERE zip = '94952' AND town = 'petaluma'")
        return made, int(pairs)
    finally:
        await a.close()
        await b.close()


def test_a_pair_another_worker_is_writing_is_not_waited_for(core_db_url: str) -> None:
    # ON CONFLICT had waited for the other transaction to end (100 ms a time at a load's
    # start, both workers meeting the same few pairs); the pair is left to the writer
    made, pairs = anyio.run(_a_pair_being_written, core_db_url)
    assert made is not None
    assert pairs == 1
