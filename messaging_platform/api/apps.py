from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "messaging_platform.api"
    label = "api"
    verbose_name = "API plumbing"

    def ready(self) -> None:
        # The OpenAPI extensions of our authentication classes, and the credential caches'
        # per-request token read (signal receivers).
        from ..db_timestamps import load_timestamps_in_c
        from . import credentials, schema  # noqa: F401

        load_timestamps_in_c()
