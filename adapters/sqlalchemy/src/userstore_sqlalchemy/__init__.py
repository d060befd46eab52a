"""userstore-sqlalchemy (placeholder while the adapter is written)."""
