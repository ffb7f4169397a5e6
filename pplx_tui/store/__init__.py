"""Persistence: SQLModel tables, the engine, schema migrations, audit log, operation journal."""
