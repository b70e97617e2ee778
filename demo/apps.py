from django.apps import AppConfig


class DemoConfig(AppConfig):
    """`seed_demo`: the demo project of `dev.py up`; it may use every other app."""

    name = "demo"
    verbose_name = "Demo"
