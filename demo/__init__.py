"""The demo project that `dev.py up` seeds (`manage.py seed_demo`)."""
