"""A real FastAPI Users application on userstore-sqlalchemy, driven over HTTP on every backend."""
