from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo's tooling: development servers, local CA, host names, demo user."""

    name = "apps.demo"
    label = "demo"
    verbose_name = "Demo tooling"
