from django.apps import AppConfig


class MediaStoreConfig(AppConfig):
    name = "messaging.media_store"
    label = "media_store"

    def ready(self) -> None:
        from messaging import events

        from .services import on_platform_events

        # A new message with media has its files copied here once it is filed.
        if on_platform_events not in events.EVENT_SINKS:
            events.EVENT_SINKS.append(on_platform_events)
