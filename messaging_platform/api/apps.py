from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "messaging_platform.api"
    label = "api"
    verbose_name = "API plumbing"
