"""FastAPI Users' documentation example for SQLAlchemy, with only the imports switched.

``db.py``, ``schemas.py``, ``users.py`` and ``app.py`` follow the documentation's
module split, names and wiring (JWT strategy, bearer transport, tables created
in the lifespan).  Two lines differ from the documentation:

- ``from fastapi_users.db import ...`` reads ``from userstore_sqlalchemy import ...``;
- ``DATABASE_URL`` is read from the environment instead of being a literal.

Serve it with ``uvicorn tests.dropin.docs_app.app:app``.
"""
