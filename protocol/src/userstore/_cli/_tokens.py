"""``userstore tokens purge``: deleting old access tokens in committed batches."""

from __future__ import annotations

import argparse
import datetime as dt
import sys

from ._common import OK, _Age, _open, _plural
from ._output import _dumps, _Progress

__all__ = []


async def _tokens_purge(args: argparse.Namespace) -> int:
    age: _Age = args.older_than
    before = dt.datetime.now(dt.UTC) - age.delta
    deleted = batches = 0
    async with _open(args) as store, store.session() as session:
        matching = await session.count_tokens(before)
        if not args.dry_run and matching:
            progress = _Progress(
                "purging access tokens", matching, forced=args.progress, stream=sys.stderr
            )
            try:
                async for count in session.purge_tokens(before, batch_size=args.batch_size):
                    deleted += count
                    batches += 1
                    progress.update(deleted)
            finally:
                progress.finish()
    if args.json:
        document = {
            "older_than": age.text,
            "before": before.isoformat(),
            "matching": matching,
            "deleted": deleted,
            "batches": batches,
            "dry_run": args.dry_run,
        }
        print(_dumps(document))
    elif args.dry_run:
        print(f"{_plural(matching, 'access token')} created before {before.isoformat()} (dry run)")
    else:
        print(
            f"deleted {_plural(deleted, 'access token')} created before {before.isoformat()} "
            f"({_plural(batches, 'batch', 'batches')})"
        )
    return OK
