"""Alembic: autogenerate on userstore's models, and the move from fastapi-users-db-sqlalchemy 7."""
