from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"

    def ready(self) -> None:
        from numbers.signals import carrier_event

        from . import checks  # noqa: F401 - registers the system checks
        from .carrier_events import on_simulated_carrier_event

        carrier_event.connect(on_simulated_carrier_event, dispatch_uid="messaging.carrier_event")

        from . import broadcasts, events, outbound

        # Outbound webhooks hear every published message event (once, even if ready() runs twice).
        if outbound.on_platform_events not in events.EVENT_SINKS:
            events.EVENT_SINKS.append(outbound.on_platform_events)
        # Broadcasts follow their messages: live counts, and completion.
        if broadcasts.on_platform_events not in events.EVENT_SINKS:
            events.EVENT_SINKS.append(broadcasts.on_platform_events)
