from django.apps import AppConfig
from django.db.models.signals import post_migrate

# The migration that creates apps.idp.models.ECKey: the ES256 key is made once it has run.
ES256_KEY_MIGRATION = ("idp", "0002_eckey")


def create_first_signing_keys(plan=None, **kwargs) -> None:
    """When migrate creates the key tables, give the IdP its RS256 and ES256 keys.

    The seed's steps (migrate, createsuperuser, runserver) never run `creatersakey`, and
    without a key every token request from an RS256 (or ES256) client would fail. A database
    migrated before ES256 existed gets its ES256 key when the ECKey table is added.
    """
    from apps.idp import services  # models are not importable before apps are ready

    applied = [(m.app_label, m.name) for m, backwards in plan or () if not backwards]
    needed = []
    if any(app_label == "oidc_provider" for app_label, _ in applied):
        needed.append("RS256")
    if ES256_KEY_MIGRATION in applied:
        needed.append("ES256")
    services.ensure_signing_keys(tuple(needed))


class IdpConfig(AppConfig):
    name = "apps.idp"
    label = "idp"
    verbose_name = "Identity provider"

    def ready(self) -> None:
        post_migrate.connect(create_first_signing_keys, sender=self)
