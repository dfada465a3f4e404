"""URLs of the receiver origin (https://mysrv.local:8444 by default): the redirect URI only."""

from django.urls import path

from apps.receiver import views

app_name = "receiver"
urlpatterns = [path("", views.show_code, name="code")]
