from django.apps import AppConfig


class TwilioApiConfig(AppConfig):
    name = "messaging.twilio_api"
    label = "twilio_api"
    verbose_name = "Twilio-compatible API"

    def ready(self) -> None:
        from messaging import events

        from . import schema  # noqa: F401 - registers the OpenAPI security scheme
        from .callbacks import on_platform_events

        # Status callbacks and SmsUrl posts hear every published message event (once).
        if on_platform_events not in events.EVENT_SINKS:
            events.EVENT_SINKS.append(on_platform_events)
