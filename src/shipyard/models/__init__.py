"""Models: packages that carry their preprocessing, schema and training profile; the registry."""
