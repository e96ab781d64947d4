from django.apps import AppConfig


class InsightsConfig(AppConfig):
    name = "messaging.insights"
    label = "insights"
    verbose_name = "Delivery insights"
