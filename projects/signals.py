"""Events that projects announces and later apps act on.

Tasks live in `labeling`, which depends on `projects`, so `projects` cannot create them
itself. It sends these signals inside the same transaction instead, and
`labeling/receivers.py` creates the tasks in bulk.
"""

from django.dispatch import Signal

# sender=Dataset; kwargs: dataset, media_ids (list of UUIDs)
media_created = Signal()
# sender=Dataset; kwargs: dataset, project
dataset_connected = Signal()
