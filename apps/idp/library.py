"""App config for the django-oidc-provider library as this project installs it."""

from oidc_provider.apps import OIDCProviderConfig as LibraryConfig


class OIDCProviderConfig(LibraryConfig):
    # The library's migrations use AutoField; with the project's BigAutoField default,
    # makemigrations would otherwise want to write a migration into site-packages.
    default_auto_field = "django.db.models.AutoField"
