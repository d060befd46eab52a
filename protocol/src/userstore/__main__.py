"""``python -m userstore``: the ``userstore`` command."""

from ._cli import main

raise SystemExit(main())
