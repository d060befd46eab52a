"""FastAPI Users' documentation example for SQLAlchemy with OAuth, imports switched.

The ``sqlalchemy-oauth`` example: ``docs_app`` plus an OAuth account table
(``User.oauth_accounts``, joined-loaded), ``SQLAlchemyUserDatabase(session, User,
OAuthAccount)``, and the OAuth and OAuth-associate routers.  Besides the imports
(``userstore_sqlalchemy`` for ``fastapi_users.db``) and ``DATABASE_URL`` from the
environment, one thing differs: the OAuth client is ``tests.dropin.fake_oauth``'s
``FakeOAuth2`` in place of ``GoogleOAuth2``, so that no provider is called.
"""
