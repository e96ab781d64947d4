from django.apps import AppConfig


class OperationsConfig(AppConfig):
    name = "messaging.operations"
    label = "operations"
    verbose_name = "Operations"

    def ready(self) -> None:
        from celery.signals import before_task_publish, task_postrun, task_prerun
        from django.db.models.signals import post_save

        from messaging import events
        from messaging.models import WebhookAttempt

        from . import logs, metrics

        # Every published message event is counted (once, even if ready() runs twice).
        if metrics.count_message_events not in events.EVENT_SINKS:
            events.EVENT_SINKS.append(metrics.count_message_events)
        post_save.connect(
            metrics.count_webhook_attempt,
            sender=WebhookAttempt,
            dispatch_uid="messaging.operations.count_webhook_attempt",
        )
        task_postrun.connect(metrics.count_task, dispatch_uid="messaging.operations.count_task", weak=False)
        # The request id and the message's ids follow it into its tasks.
        before_task_publish.connect(
            logs.add_context_to_task, dispatch_uid="messaging.operations.log_publish", weak=False
        )
        task_prerun.connect(
            logs.restore_context_in_task, dispatch_uid="messaging.operations.log_prerun", weak=False
        )
        task_postrun.connect(
            logs.clear_context_after_task, dispatch_uid="messaging.operations.log_postrun", weak=False
        )
