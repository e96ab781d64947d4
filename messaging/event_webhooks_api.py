"""The UI API of event webhooks (outbound, to integrators): `/api/ui/workspaces/{workspaceId}/webhooks…`.

Owners and admins manage endpoints; members read them (never the secret, which is shown only in
the answers of creation and rotation).
"""

from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from messaging_platform.api.fields import StrictCharField, StrictChoiceField, StrictURLField
from messaging_platform.api.idempotency import idempotent
from workspaces.scoping import WorkspaceMemberMixin

from . import event_webhooks
from .models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEventType


class EventListField(serializers.ListField):
    child = StrictChoiceField(choices=WebhookEventType.values)

    def __init__(self, **kwargs):
        super().__init__(min_length=1, max_length=len(WebhookEventType.values), **kwargs)


class WebhookEndpointSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "url",
            "description",
            "events",
            "is_active",
            "disabled_reason",
            "disabled_at",
            "failing_since",
            "created_at",
            "updated_at",
        ]


class WebhookEndpointWithSecretSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(help_text="Shown in this answer only: store it now.")

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]


class WebhookEndpointInputSerializer(serializers.Serializer):
    url = StrictURLField(max_length=2000)
    events = EventListField()
    description = StrictCharField(max_length=200, required=False, allow_blank=True)


class WebhookEndpointUpdateSerializer(serializers.Serializer):
    url = StrictURLField(max_length=2000, required=False)
    events = EventListField(required=False)
    description = StrictCharField(max_length=200, required=False, allow_blank=True)
    is_active = serializers.BooleanField(required=False)


class WebhookAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = ["attempted_at", "status_code", "error", "duration_ms"]


class WebhookDeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "event_id",
            "event_type",
            "message_id",
            "status",
            "attempts",
            "last_status_code",
            "last_error",
            "last_attempt_at",
            "next_attempt_at",
            "delivered_at",
            "created_at",
        ]


class WebhookDeliveryDetailSerializer(WebhookDeliverySerializer):
    attempt_log = WebhookAttemptSerializer(many=True, read_only=True)

    class Meta(WebhookDeliverySerializer.Meta):
        fields = [*WebhookDeliverySerializer.Meta.fields, "attempt_log"]


def _valid(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class _EndpointMixin(WorkspaceMemberMixin):
    def endpoint(self, endpoint_id: str) -> WebhookEndpoint:
        return event_webhooks.access_webhook_endpoint(workspace=self.workspace, endpoint_id=endpoint_id)


@extend_schema(tags=["webhooks"])
class WebhookEndpointListView(_EndpointMixin, generics.GenericAPIView):
    model = WebhookEndpoint
    serializer_class = WebhookEndpointSerializer

    # many=True: the answer is the paginated envelope, not one endpoint.
    @extend_schema(
        summary="The workspace's webhook endpoints",
        operation_id="ui_workspaces_webhooks_list",
        responses=WebhookEndpointSerializer(many=True),
    )
    def get(self, request, workspace_id):
        page = self.paginate_queryset(event_webhooks.webhook_endpoint_list(workspace=self.workspace))
        return self.get_paginated_response(WebhookEndpointSerializer(page, many=True).data)

    @extend_schema(
        request=WebhookEndpointInputSerializer,
        responses={201: WebhookEndpointWithSecretSerializer},
        summary="Register an endpoint (its signing secret is shown once)",
    )
    @idempotent
    def post(self, request, workspace_id):
        data = _valid(WebhookEndpointInputSerializer, request.data)
        endpoint = event_webhooks.webhook_endpoint_create(
            workspace=self.workspace,
            url=data["url"],
            events=data["events"],
            description=data.get("description", ""),
            created_by=request.user,
        )
        return Response(WebhookEndpointWithSecretSerializer(endpoint).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["webhooks"])
class WebhookEndpointDetailView(_EndpointMixin, APIView):
    @extend_schema(responses=WebhookEndpointSerializer, summary="One webhook endpoint")
    def get(self, request, workspace_id, endpoint_id):
        return Response(WebhookEndpointSerializer(self.endpoint(endpoint_id)).data)

    @extend_schema(
        request=WebhookEndpointUpdateSerializer,
        responses=WebhookEndpointSerializer,
        summary="Change the URL or events, or disable/enable the endpoint",
    )
    def patch(self, request, workspace_id, endpoint_id):
        endpoint = self.endpoint(endpoint_id)
        data = _valid(WebhookEndpointUpdateSerializer, request.data)
        endpoint = event_webhooks.webhook_endpoint_update(endpoint=endpoint, **data)
        return Response(WebhookEndpointSerializer(endpoint).data)

    @extend_schema(responses={204: None}, summary="Delete an endpoint and its delivery log")
    def delete(self, request, workspace_id, endpoint_id):
        event_webhooks.webhook_endpoint_delete(endpoint=self.endpoint(endpoint_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["webhooks"])
class WebhookEndpointRotateSecretView(_EndpointMixin, APIView):
    @extend_schema(
        request=None,
        responses=WebhookEndpointWithSecretSerializer,
        summary="Replace the signing secret (the new one is shown once)",
    )
    def post(self, request, workspace_id, endpoint_id):
        endpoint = event_webhooks.webhook_endpoint_rotate_secret(endpoint=self.endpoint(endpoint_id))
        return Response(WebhookEndpointWithSecretSerializer(endpoint).data)


@extend_schema(tags=["webhooks"])
class WebhookEndpointTestView(_EndpointMixin, APIView):
    @extend_schema(
        request=None,
        responses={202: WebhookDeliverySerializer},
        summary="Queue a signed `webhook.test` event to this endpoint",
    )
    def post(self, request, workspace_id, endpoint_id):
        delivery = event_webhooks.webhook_endpoint_send_test(endpoint=self.endpoint(endpoint_id))
        delivery.refresh_from_db()  # eager tasks may already have tried it
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


@extend_schema(tags=["webhooks"])
class WebhookDeliveryListView(_EndpointMixin, generics.GenericAPIView):
    model = WebhookDelivery
    serializer_class = WebhookDeliverySerializer

    @extend_schema(
        summary="Recent deliveries to this endpoint, newest first",
        operation_id="ui_workspaces_webhooks_deliveries_list",
        responses=WebhookDeliverySerializer(many=True),
    )
    def get(self, request, workspace_id, endpoint_id):
        deliveries = event_webhooks.webhook_delivery_list(endpoint=self.endpoint(endpoint_id))
        page = self.paginate_queryset(deliveries)
        return self.get_paginated_response(WebhookDeliverySerializer(page, many=True).data)


@extend_schema(tags=["webhooks"])
class WebhookDeliveryDetailView(_EndpointMixin, APIView):
    @extend_schema(
        responses=WebhookDeliveryDetailSerializer, summary="One delivery with each of its attempts"
    )
    def get(self, request, workspace_id, endpoint_id, delivery_id):
        delivery = event_webhooks.access_webhook_delivery(
            endpoint=self.endpoint(endpoint_id), delivery_id=delivery_id
        )
        return Response(WebhookDeliveryDetailSerializer(delivery).data)


@extend_schema(tags=["webhooks"])
class WebhookDeliveryRedeliverView(_EndpointMixin, APIView):
    @extend_schema(
        request=None,
        responses={202: WebhookDeliverySerializer},
        summary="Send a delivery again now (same event id and body)",
    )
    def post(self, request, workspace_id, endpoint_id, delivery_id):
        delivery = event_webhooks.access_webhook_delivery(
            endpoint=self.endpoint(endpoint_id), delivery_id=delivery_id
        )
        delivery = event_webhooks.webhook_delivery_redeliver(delivery=delivery)
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
