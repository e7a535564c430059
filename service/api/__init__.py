"""The REST API (FastAPI). Only entry points import this package."""
