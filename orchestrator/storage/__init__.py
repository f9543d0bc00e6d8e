"""The database: the engine (SQLite WAL or PostgreSQL), every table, the run repository."""
