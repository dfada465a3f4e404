from django.apps import AppConfig
from django.db.models.signals import post_migrate


def create_first_signing_key(plan=None, **kwargs) -> None:
    """When migrate creates django-oidc-provider's tables, give the IdP its RS256 key.

    The seed's steps (migrate, createsuperuser, runserver) never run `creatersakey`, and
    without a key every token request from an RS256 client would fail.
    """
    from apps.idp import services  # models are not importable before apps are ready

    if any(m.app_label == "oidc_provider" and not backwards for m, backwards in plan or ()):
        services.ensure_signing_key()


class IdpConfig(AppConfig):
    name = "apps.idp"
    label = "idp"
    verbose_name = "Identity provider"

    def ready(self) -> None:
        post_migrate.connect(create_first_signing_key, sender=self)
