from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo firm and the `seed_demo` command: the top floor, free to use every domain app."""

    name = "qbsync.demo"
    label = "demo"
    verbose_name = "Demo data"
