"""Database building blocks: entity id fields, foreign keys with database-level ON DELETE."""
