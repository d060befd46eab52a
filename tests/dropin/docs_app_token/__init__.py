"""``docs_app`` with the database strategy in place of JWT, imports switched.

As FastAPI Users' documentation configures ``DatabaseStrategy`` for SQLAlchemy:
an ``AccessToken`` table (``SQLAlchemyBaseAccessTokenTableUUID``), a
``get_access_token_db`` dependency yielding ``SQLAlchemyAccessTokenDatabase``,
and ``get_database_strategy`` as the backend's strategy.  The imports are
``userstore_sqlalchemy`` for ``fastapi_users.db`` and
``userstore_sqlalchemy.access_token`` for ``fastapi_users_db_sqlalchemy.access_token``.
"""
