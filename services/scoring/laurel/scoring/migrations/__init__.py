"""Scoring's schema chain (Alembic revisions in versions/; see laurel.migrator)."""
