from django.apps import AppConfig


class IdpConfig(AppConfig):
    name = "apps.idp"
    label = "idp"
    verbose_name = "Identity provider"
