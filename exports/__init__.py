"""Exports: export jobs, the streaming driver over the formats' writers, their API and pages."""
