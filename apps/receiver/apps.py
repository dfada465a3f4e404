from django.apps import AppConfig


class ReceiverConfig(AppConfig):
    name = "apps.receiver"
    label = "receiver"
