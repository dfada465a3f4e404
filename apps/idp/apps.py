from django.apps import AppConfig
from django.db.models.signals import post_delete, post_migrate, post_save, pre_save

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


def refuse_weak_public_client(sender, instance, **kwargs) -> None:
    """Before any Client row is saved: a public client signs with RS256 or ES256, never else.

    The admin form and apps.idp.services check this with readable messages; this guard is for
    every other path (the shell, a fixture, a library form, a future endpoint), so that no
    order of switching client_type and jwt_alg leaves a public client with HS256 (signed with
    an empty secret) or an empty algorithm. A signal rather than clean(): the model is the
    library's, and save() does not call clean().
    """
    from apps.idp import services

    services.refuse_weak_signing(instance.client_type, instance.jwt_alg)


class IdpConfig(AppConfig):
    name = "apps.idp"
    label = "idp"
    verbose_name = "Identity provider"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_login_failed
        from oidc_provider.models import Client as OIDCClient

        from apps.idp import dpop_binding, sign_in_lockout
        from apps.idp.models import DPoPClientPolicy

        post_migrate.connect(create_first_signing_keys, sender=self)
        pre_save.connect(refuse_weak_public_client, sender=OIDCClient)
        user_login_failed.connect(sign_in_lockout.count_device_failure)
        # A client's "require DPoP" changed in this process counts at once (others: a TTL).
        for signal in (post_save, post_delete):
            signal.connect(dpop_binding.forget_policies_on_change, sender=DPoPClientPolicy)
