"""The ``userstore`` command: check a database, create the schema, administer users and tokens.

    userstore check [--url URL] [--json]
    userstore init [--url URL] [--models module:Base] [--id-type uuid|int] [--json]
    userstore upgrade [--url URL] [--models module:Base] [--dry-run] [--progress] [--json]
    userstore users list [--page-size N] [--limit N] [--after ID]
    userstore users show|deactivate|activate|set-superuser [--off]|delete [--yes] USER
    userstore users create EMAIL [--superuser] [--verified]
    userstore tokens purge --older-than 30d [--batch-size N] [--dry-run] [--progress]

Every command takes ``--url`` (default: ``$USERSTORE_URL``, else
``$DATABASE_URL``, else the SQLite file ``userstore.db`` in the current directory;
any scheme an installed adapter serves) and ``--json`` (one JSON document on
stdout, nothing else there; an error is ``{"error": ..., "status": ...}`` there
too).  ``userstore --version`` names userstore's version and each adapter's.
``init``, ``users`` and ``tokens`` take ``--models module:Base``, the application's
declarative base (the module is looked up in the current directory first), or
``--id-type`` for the default models.
``USER`` is an id or an email, matched by its email key.

``check`` runs the conformance suite in scratch tables it names, creates before
each rule and drops after it, never touching the application's tables; it prints
each rule as it finishes, pass or FAIL with what was observed.

``upgrade`` brings tables an older schema made (fastapi-users-db-sqlalchemy 7's)
to the store's, in place, every row kept; with ``--dry-run`` it only says what it
would do.  Rows the new rules cannot all keep (emails equal under the email key,
an OAuth account linked twice) are listed, nothing is changed, and the exit
status is 1.

``users create`` asks twice for the password, without echo; when stdin is not a
terminal it reads the password from stdin's first line instead (for scripts:
``echo "$PW" | userstore users create ada@example.com``).  The password
is hashed with pwdlib's recommended hasher (Argon2, FastAPI Users' default):
``pip install 'userstore[cli]'``.

``tokens purge`` deletes access tokens older than a duration (``90m``, ``12h``,
``30d``, ``2w``, or sums such as ``1d12h``) in committed batches, with a progress
line on stderr when stderr is a terminal (always with ``--progress``).

Exit status: 0 done; 1 the command ran and the answer is no (a rule of ``check``
failed, no user matches, the email is taken); 2 it could not run (usage, invalid
input, bad URL, unknown scheme, missing driver, unreachable server, database
error); 130 interrupted.  Errors are one line on stderr, never a traceback
(``USERSTORE_DEBUG=1`` re-raises them).
"""

from ._common import hide_password, parse_duration
from ._main import main
from ._output import user_record

__all__ = ["hide_password", "main", "parse_duration", "user_record"]
