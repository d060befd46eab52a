"""Run uvicorn with FastAPI Users' default password hashing at test-sized argon2 costs.

``python -m tests.dropin.serve <uvicorn arguments>`` is ``python -m uvicorn``,
except that ``PasswordHelper()`` (the documentation app's default) builds its
argon2 hasher with time_cost=1, memory_cost=1 MiB, parallelism=1 instead of
argon2's defaults (3, 64 MiB, 4).  At the defaults one hash costs ~0.14 s of
CPU, and 40 concurrent registrations all hash before the database refuses 39 of
them: ~6 s of CPU per race, per backend.  The application's code is not touched.
"""

import functools
import sys

import fastapi_users.password
import uvicorn
from pwdlib.hashers.argon2 import Argon2Hasher

fastapi_users.password.Argon2Hasher = functools.partial(  # type: ignore[misc]
    Argon2Hasher, time_cost=1, memory_cost=1024, parallelism=1
)

if __name__ == "__main__":
    sys.argv[0] = "uvicorn"
    uvicorn.main()
