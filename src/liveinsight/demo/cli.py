"""The terminal side of ``liveinsight demo``: a progress bar and a summary around
:func:`liveinsight.demo.generate.write_demo`, and the foreground live trickle."""

from __future__ import annotations

import threading

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from liveinsight.settings import Settings


def generate(console: Console, settings: Settings, *, days: int, scale: float, seed: int,
             reset: bool, quiet_if_stored: bool = False) -> None:
    from liveinsight.demo.generate import write_demo

    columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
               TextColumn("{task.fields[detail]}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        made = bar.add_task("generating", total=1, detail="", visible=False)
        stored = bar.add_task("storing   ", total=1.0, detail="", visible=False)

        def progress(events: int, expected: int, share: float) -> None:
            bar.update(made, completed=events, total=expected, visible=True,
                       detail=f"{events:,} events")
            bar.update(stored, completed=share, visible=True, detail="in ClickHouse")

        try:
            report = write_demo(settings, days=days, scale=scale, seed=seed, reset=reset,
                                progress=progress)
        except Exception as exc:
            console.print(f"[red]error:[/red] demo data: {exc}")
            raise typer.Exit(1) from None
    names = ", ".join(s.domain for s in report.sites)
    if report.skipped:
        if quiet_if_stored:
            return
        console.print(f"demo data already stored for {names} (use --reset to regenerate)")
        return
    console.print(
        f"demo data: {report.events:,} event rows in {report.sessions:,} visits over {days} days "
        f"for {names}\n"
        f"  generated into the write-ahead log at {report.logged_per_second:,.0f} events/s; "
        f"stored in ClickHouse at {report.events_per_second:,.0f} events/s "
        f"({report.seconds:.1f} s)\n"
        "  visitors' countries, regions and cities are generated from a fixed list, not "
        "looked up (real traffic gets cities only with a city database: "
        "LIVEINSIGHT_GEO_CITY_DATABASE)")


def trickle_forever(console: Console, base_url: str, rate: float) -> None:
    from liveinsight.demo import catalog, live

    console.print(f"sending live demo visits to {base_url} (Ctrl-C to stop)")
    stop = threading.Event()
    trickle = live.Trickle(list(catalog.SITES), rate)
    try:
        sent = trickle.run(base_url, stop)
    except KeyboardInterrupt:
        stop.set()
        return
    if not sent:
        console.print(f"[red]error:[/red] no server answered at {base_url}")
        raise typer.Exit(1)
