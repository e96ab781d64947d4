from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "messaging_platform.api"
    label = "api"
    verbose_name = "API plumbing"

    def ready(self) -> None:
        # Registers the OpenAPI extensions of our authentication classes.
        from . import schema  # noqa: F401
