"""``userstore check``: the conformance suite on a live database, in scratch tables."""

from __future__ import annotations

import argparse
from typing import Any

from ._common import NO, OK, _check_url, _connect_failure, hide_password
from ._output import _dumps

__all__ = []


def _harness(url: str) -> Any:
    from ..testing import harness_for

    _check_url(url)
    return harness_for(url)


async def _check(args: argparse.Namespace) -> int:
    from ..testing import CASES, run_case

    url, shown = args.url, hide_password(args.url)
    try:
        harness = _harness(url)
        async with harness.open_store():  # fails fast, in one line, if the database is unusable
            pass
    except Exception as error:
        raise _connect_failure(error, url) from error
    scratch = harness.scratch_description
    if not args.json:
        print(f"userstore check {shown}")
        print(f"scratch: {scratch}; the application's tables are not touched")
    results = []
    for case in CASES:
        result = await run_case(harness, case)
        results.append(result)
        if not args.json:
            mark = "pass" if result.passed else "FAIL"
            print(f"  {mark}  s{case.section:<2} {case.title}", flush=True)
            if result.observed:
                print(f"              observed: {result.observed}")
            if result.error:
                print(f"              {result.error}")
    failed = sum(not r.passed for r in results)
    if args.json:
        rows = [
            {
                "id": r.case.id,
                "section": r.case.section,
                "rule": r.case.title,
                "passed": r.passed,
                "observed": r.observed,
                "error": r.error,
            }
            for r in results
        ]
        document = {
            "url": shown,
            "scratch": scratch,
            "passed": len(results) - failed,
            "failed": failed,
            "results": rows,
        }
        print(_dumps(document))
    else:
        print(f"{len(results) - failed} passed, {failed} failed")
    return NO if failed else OK
