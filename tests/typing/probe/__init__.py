"""Applications that are only type-checked: FastAPI Users' variants on userstore's models."""
