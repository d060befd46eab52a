"""``userstore init`` and ``userstore upgrade``: creating and upgrading the schema."""

from __future__ import annotations

import argparse
import dataclasses
import sys

from .._store import SchemaConflict
from ._common import NO, OK, _open, hide_password
from ._output import _dumps, _Progress, _text

__all__ = []


async def _init(args: argparse.Namespace) -> int:
    shown = hide_password(args.url)
    models = args.models or "default"
    async with _open(args) as store:
        await store.create_schema()
        id_type = store.id_type
    if args.json:
        print(_dumps({"url": shown, "models": models, "id_type": id_type, "schema": "ready"}))
    else:
        print(f"schema ready at {shown} ({models} models, {id_type} ids)")
    return OK


def _conflict_lines(conflict: SchemaConflict) -> list[str]:
    key = ", ".join(map(repr, conflict.key))
    lines = [f"  {conflict.table}: {conflict.reason}: {key}"]
    lines += [f"      {', '.join(_text(value) for value in row)}" for row in conflict.rows]
    return lines


async def _upgrade(args: argparse.Namespace) -> int:
    shown = hide_password(args.url)
    bars: dict[str, _Progress] = {}

    def progress(what: str, done: int, total: int) -> None:
        bar = bars.get(what)
        if bar is None:
            for other in bars.values():
                other.finish()
            bar = bars[what] = _Progress(what, total, forced=args.progress, stream=sys.stderr)
        bar.update(done)

    async with _open(args) as store:
        try:
            report = await store.upgrade_schema(dry_run=args.dry_run, progress=progress)
        finally:
            for bar in bars.values():
                bar.finish()
    if args.json:
        document = {
            "url": shown,
            "models": args.models or "default",
            "found": report.found,
            "dry_run": report.dry_run,
            "changed": report.changed,
            "steps": list(report.steps),
            "conflicts": [dataclasses.asdict(c) for c in report.conflicts],
            "remaining": list(report.remaining),
        }
        print(_dumps(document))
        return NO if report.conflicts else OK
    print(f"userstore upgrade {shown}: found {report.found}")
    if report.conflicts:
        print(
            f"{len(report.conflicts)} conflict(s) stop the upgrade; nothing was changed. "
            "Resolve them, then run it again:"
        )
        for conflict in report.conflicts:
            print("\n".join(_conflict_lines(conflict)))
        return NO
    for step in report.steps:
        print(f"  {step}")
    count = len(report.steps)
    if not count:
        print("nothing to upgrade: the schema is up to date")
    elif report.dry_run:
        print(f"{count} step(s) to take (dry run: nothing was changed)")
    else:
        print(f"upgraded in {count} step(s), every row kept")
    for problem in report.remaining:
        print(f"still missing: {problem}")
    return OK
