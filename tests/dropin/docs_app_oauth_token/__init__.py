"""``docs_app_oauth`` (OAuth accounts) with the database strategy in place of JWT.

The documentation's OAuth example with ``DatabaseStrategy`` configured as in
``docs_app_token``; the OAuth client is ``FakeOAuth2`` as in ``docs_app_oauth``.
"""
