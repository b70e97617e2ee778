"""Backups of one project: `project_dump` and `project_restore` (docs/operations.md)."""
