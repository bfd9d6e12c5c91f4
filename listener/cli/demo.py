"""`atlas-orch demo`: the synthetic world for demos, tests and benchmarks."""

from __future__ import annotations

from pathlib import Path

import click

from listener.cli.common import database_option, json_option
from listener.core import db
from listener.core.output import emit_json, say


@click.group()
def demo() -> None:
    """The synthetic Atlas-like world for demos, tests and benchmarks."""


@demo.command("generate")
@click.option("--scale", type=click.Choice(["small", "atlas", "atlas2", "atlas3", "atlas10"]),
              default="small", show_default=True,
              help="small: ~3k rows; atlas: the real platform's volumes (~172k rows); "
                   "atlas2/3/10: two, three, ten times that (atlas10: ~1.7M rows, a few "
                   "minutes).")
@click.option("--seed", type=int, default=1, show_default=True, help="Same seed, same world.")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Folder to write the exports, manifest.json and ground_truth/ into.")
@json_option
def demo_generate(scale: str, seed: int, out: Path, as_json: bool) -> None:
    """Write a seeded world as every source's own export, with its ground truth."""
    from synthetic.generate import generate

    expected = generate(out, scale=scale, seed=seed)
    if as_json:
        emit_json(expected)
    else:
        say(f"wrote the {scale} world (seed {seed}) to {out} in {expected['seconds']}s: "
            f"{expected['staged_rows']:,} rows, {expected['people']:,} people, "
            f"{expected['places']:,} places, {expected['cats']:,} cats; "
            f"ingest it with: atlas-orch ingest --manifest {out / 'manifest.json'}")


@demo.command("run")
@database_option
@click.option("--port", default=8765, show_default=True, type=click.IntRange(1, 65535))
@click.option("--seed", type=int, default=1, show_default=True)
def demo_run(database_url: str | None, port: int, seed: int) -> None:
    """Generate the small world, install, ingest, process, then serve the page and listen."""
    import os
    import secrets

    from listener.cli.main import cli
    from listener.cli.serve import check_port
    from listener.core.config import data_home, database_url_from_env
    from synthetic.generate import generate

    check_port("127.0.0.1", port)     # a port in use is said now, not after the pipeline

    # click fills database_url from the environment too: unset here means the embedded server
    embedded = not (database_url or database_url_from_env())
    url = db.resolve_url(database_url)
    world = data_home() / f"demo-world-{seed}"
    if not (world / "manifest.json").exists():
        generate(world, scale="small", seed=seed)
    for args in (["install", "--with-core"],
                 ["ingest", "--manifest", str(world / "manifest.json"), "--no-progress"],
                 ["process"], ["listen", "--once"]):
        say("$ atlas-orch " + " ".join(args))
        cli.main(args=[args[0], "--database-url", url, *args[1:]], prog_name="atlas-orch",
                 standalone_mode=False)
    token = os.environ.get("ATLAS_ORCH_ADMIN_TOKEN") or secrets.token_urlsafe(16)
    os.environ["ATLAS_ORCH_ADMIN_TOKEN"] = token
    click.echo(f"\n  open http://127.0.0.1:{port}/admin/data-health")
    click.echo(f"  token: {token}")
    # No URL to copy: the embedded server is found again from the data folder, and a URL of
    # the user's own would print with its password masked, a line that would not connect.
    where = ("(no DATABASE_URL: it finds the same embedded server)" if embedded
             else "(with the same DATABASE_URL)")
    click.echo(f"  then, in a second terminal {where}, ingest another file and watch it arrive:")
    click.echo("  atlas-orch demo survey --rows 50 --seed $RANDOM --out /tmp/survey.csv")
    click.echo("  atlas-orch ingest client_survey/responses /tmp/survey.csv && "
               "atlas-orch process")
    if embedded:
        click.echo("  the embedded PostgreSQL keeps running after Ctrl-C: atlas-orch embedded stop")
    click.echo()
    cli.main(args=["serve", "--database-url", url, "--port", str(port)],
             prog_name="atlas-orch", standalone_mode=False)


@demo.command("survey")
@click.option("--rows", type=click.IntRange(1), default=1000, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="CSV file to write.")
@json_option
def demo_survey(rows: int, seed: int, out: Path, as_json: bool) -> None:
    """Write client_survey responses (the example of a source wired by SQL alone)."""
    from synthetic.survey import write_survey

    write_survey(out, rows, seed=seed)
    if as_json:
        emit_json({"rows": rows, "seed": seed, "out": str(out)})
        return
    say(f"wrote {rows:,} survey responses to {out}; ingest with: "
        f"atlas-orch ingest client_survey/responses {out}")
