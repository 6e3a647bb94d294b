"""Reproducible pipelines: stages in shipyard.yaml, a lock file, a content-addressed cache of outputs."""
