"""Messages, conversations and opt-outs: the integrator API and the UI API."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from messaging_platform.api.exceptions import describe_exception
from messaging_platform.api.idempotency import idempotent
from messaging_platform.api.lean import integrator_post
from messaging_platform.api.schema import for_surface
from messaging_platform.errors import DomainError
from workspaces.scoping import (
    INTEGRATOR,
    UI,
    IntegratorWorkspaceMixin,
    WorkspaceAPIMixin,
    WorkspaceMemberMixin,
)

from . import lifecycle, selectors, sending
from .conversations import conversation_mark_read
from .filters import parse_message_filters
from .models import Conversation, Message, OptOut
from .send_input import send_fields
from .serializers import ConversationSerializer, MessageSerializer, SendInputSerializer, message_data

LIST_FILTERS = [
    OpenApiParameter("direction", OpenApiTypes.STR, enum=["inbound", "outbound"]),
    OpenApiParameter("status", OpenApiTypes.STR),
    OpenApiParameter("from", OpenApiTypes.STR, description="E.164 sender"),
    OpenApiParameter("to", OpenApiTypes.STR, description="E.164 recipient"),
    OpenApiParameter("startDate", OpenApiTypes.DATETIME, description="ISO 8601, inclusive"),
    OpenApiParameter("endDate", OpenApiTypes.DATETIME, description="ISO 8601, inclusive"),
    OpenApiParameter("conversation", OpenApiTypes.STR, description="A conversation id"),
    OpenApiParameter("search", OpenApiTypes.STR, description="Text in the body"),
    OpenApiParameter(
        "updated_since",
        OpenApiTypes.DATETIME,
        description="Only messages changed after this moment (catching up after a dropped WebSocket)",
    ),
]

PreviewSerializer = inline_serializer(
    "MessagePreview",
    {
        "valid": serializers.BooleanField(),
        "characters": serializers.IntegerField(),
        "num_segments": serializers.IntegerField(),
        "encoding": serializers.ChoiceField(choices=["GSM-7", "UCS-2"]),
        "errors": serializers.DictField(child=serializers.ListField(child=serializers.CharField())),
    },
)


def send_request(fields: dict) -> sending.SendRequest:
    """The send a message's validated fields ask for."""
    return sending.SendRequest(
        to=fields["to"],
        body=fields["body"],
        media_urls=fields["media_urls"],
        from_number=fields.get("from"),
        status_callback=fields.get("status_callback", ""),
        scheduled_at=fields.get("scheduled_at"),
        expires_at=sending.expiry(fields),
    )


def send_one(data, workspace, **origin) -> dict:
    """Validate and send one message; its answer (201)."""
    request = send_request(send_fields(data))
    message = sending.message_send(
        workspace=workspace,
        to=request.to,
        body=request.body,
        media_urls=request.media_urls,
        from_number=request.from_number,
        status_callback=request.status_callback,
        scheduled_at=request.scheduled_at,
        expires_at=request.expires_at,
        **origin,
    )
    return message_data(message)


MAX_BATCH = 1000


def send_batch(data, workspace, **origin) -> dict:
    """Validate each message of a batch on its own, store the valid ones together, answer each
    (200)."""
    items = data.get("messages") if isinstance(data, dict) else None
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH:
        raise DomainError(
            "invalid_params" if isinstance(items, list) else "missing_params",
            f"`messages` must be a list of 1 to {MAX_BATCH} messages.",
            fields={"messages": [f"A list of 1 to {MAX_BATCH} messages."]},
        )
    answers: list[dict | None] = [None] * len(items)
    valid: list[tuple[int, sending.SendRequest]] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            answers[index] = _item_error(
                index, DomainError("invalid_params", "Each message must be a JSON object.")
            )
            continue
        try:
            valid.append((index, send_request(send_fields(item))))
        except (DomainError, serializers.ValidationError) as exc:
            answers[index] = _item_error(index, exc)
    if valid:
        results = sending.message_send_many(workspace=workspace, requests=[r for _, r in valid], **origin)
        for (index, _), result in zip(valid, results, strict=True):
            if isinstance(result, DomainError):
                answers[index] = _item_error(index, result)
            else:
                answers[index] = {"index": index, "status": 201, "message": message_data(result)}
    return {"data": answers}


def _lean_send(api_key, data) -> tuple[int, dict]:
    return status.HTTP_201_CREATED, send_one(data, api_key.workspace, api_key=api_key)


def _lean_send_batch(api_key, data) -> tuple[int, dict]:
    return status.HTTP_200_OK, send_batch(data, api_key.workspace, api_key=api_key)


def _item_error(index: int, exc: Exception) -> dict:
    code, body, _ = describe_exception(exc)
    return {"index": index, "status": code, "error": body}


def preview(data, workspace) -> dict:
    """Segments and encoding of a message, and the errors its send would meet (by the same
    checks as the send: `send_fields` and `sending.message_check`)."""
    body = data.get("body") if isinstance(data, dict) else None
    errors: dict[str, list[str]] = {}
    try:
        sending.message_check(workspace=workspace, request=send_request(send_fields(data)))
    except DomainError as exc:  # a malformed phone number is its own error code
        errors = exc.fields or {"non_field_errors": [exc.detail]}
    except serializers.ValidationError as exc:
        detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        errors = {name: [str(m) for m in msgs] for name, msgs in detail.items()}
    counted = sending.message_preview(body=body if isinstance(body, str) else "")
    return {
        "valid": not errors,
        "characters": counted.characters,
        "num_segments": counted.num_segments,
        "encoding": counted.encoding,
        "errors": errors,
    }


# Each operation both APIs offer is one view, routed under /api/ (an API key) and under
# /api/ui/workspaces/{workspace_id}/ (a member): workspaces/scoping.py's WorkspaceAPIMixin.


class _MembersMayWrite:
    def requires_manager(self, request) -> bool:
        return False  # sending and reading threads is every member's work


UIMessagePageSerializer = inline_serializer(
    "WorkspaceMessagePage",
    {
        "data": MessageSerializer(many=True),
        "messages": MessageSerializer(many=True),
        "pagination": inline_serializer(
            "MessagePagination",
            {
                "currentPage": serializers.IntegerField(),
                "totalPages": serializers.IntegerField(),
                "totalItems": serializers.IntegerField(),
                "totalMessages": serializers.IntegerField(),
                "hasNext": serializers.BooleanField(),
            },
        ),
    },
)


@extend_schema(tags=["messages"])
class MessageListView(_MembersMayWrite, WorkspaceAPIMixin, generics.GenericAPIView):
    model = Message
    serializer_class = MessageSerializer

    # many=True: the answer is the paginated envelope, not one message (schemathesis found it).
    @extend_schema(parameters=LIST_FILTERS)
    @for_surface(
        INTEGRATOR,
        operation_id="messages_list",
        summary="The workspace's messages, newest first",
        responses=MessageSerializer(many=True),
    )
    @for_surface(
        UI,
        operation_id="ui_workspaces_messages_list",
        summary="The workspace's messages (documented envelope)",
        responses=UIMessagePageSerializer,
    )
    def get(self, request, **_):
        page = self.paginate_queryset(
            selectors.message_list(
                workspace=self.workspace, filters=parse_message_filters(request.query_params)
            )
        )
        data = MessageSerializer(page, many=True).data
        if self.surface == INTEGRATOR:
            return self.get_paginated_response(data)
        envelope = self.paginator.envelope(data)
        # The documented page of this endpoint also names them `messages` and `totalMessages`.
        envelope["messages"] = envelope["data"]
        envelope["pagination"]["totalMessages"] = envelope["pagination"]["totalItems"]
        return Response(envelope)

    def lean_dispatch(self, request):
        """A send of the common shape, without DRF's dispatch (messaging_platform/api/lean.py);
        None when DRF must serve the request."""
        if self.surface == INTEGRATOR:
            return integrator_post(request, self.allowed_methods, _lean_send)
        return None

    def dispatch(self, request, *args, **kwargs):
        response = self.lean_dispatch(request)
        return response if response is not None else super().dispatch(request, *args, **kwargs)

    @extend_schema(request=SendInputSerializer, responses={201: MessageSerializer})
    @for_surface(INTEGRATOR, summary="Send an SMS or MMS")
    @for_surface(UI, summary="Send an SMS or MMS from the UI")
    @idempotent
    def post(self, request, **_):
        return Response(
            send_one(request.data, self.workspace, **self.origin()), status=status.HTTP_201_CREATED
        )


BatchInputSerializer = inline_serializer(
    "MessageBatchInput",
    {
        "messages": SendInputSerializer(many=True, help_text=f"1 to {MAX_BATCH} messages"),
    },
)
BatchResultSerializer = inline_serializer(
    "MessageBatchResult",
    {
        "data": inline_serializer(
            "MessageBatchItem",
            {
                "index": serializers.IntegerField(),
                "status": serializers.IntegerField(help_text="201 if accepted, else the error's status"),
                "message": MessageSerializer(required=False),
                "error": inline_serializer(
                    "MessageBatchError",
                    {
                        "error": serializers.CharField(),
                        "detail": serializers.CharField(),
                        "fields": serializers.DictField(required=False),
                    },
                    required=False,
                ),
            },
            many=True,
        ),
    },
)


@extend_schema(tags=["messages"])
class MessageBatchView(IntegratorWorkspaceMixin, APIView):
    def lean_dispatch(self, request):
        return integrator_post(request, self.allowed_methods, _lean_send_batch)

    def dispatch(self, request, *args, **kwargs):
        response = self.lean_dispatch(request)
        return response if response is not None else super().dispatch(request, *args, **kwargs)

    @extend_schema(
        request=BatchInputSerializer,
        responses={200: BatchResultSerializer},
        summary="Send up to 1,000 messages, each accepted or refused on its own",
    )
    @idempotent
    def post(self, request):
        return Response(send_batch(request.data, self.workspace, api_key=request.auth))


@extend_schema(tags=["messages"])
class MessagePreviewView(_MembersMayWrite, WorkspaceAPIMixin, APIView):
    @extend_schema(
        request=SendInputSerializer,
        responses=PreviewSerializer,
        summary="Segments, encoding and validation of a message, without sending it",
    )
    def post(self, request, **_):
        return Response(preview(request.data, self.workspace))


@extend_schema(tags=["messages"])
class MessageDetailView(WorkspaceAPIMixin, APIView):
    @extend_schema(responses=MessageSerializer, summary="One message")
    def get(self, request, message_id, **_):
        message = selectors.access_message(workspace=self.workspace, message_id=message_id)
        return Response(MessageSerializer(message).data)


@extend_schema(tags=["messages"])
class MessageCancelView(_MembersMayWrite, WorkspaceAPIMixin, APIView):
    @extend_schema(request=None, responses=MessageSerializer, summary="Cancel a scheduled message")
    def post(self, request, message_id, **_):
        message = selectors.access_message(workspace=self.workspace, message_id=message_id)
        return Response(MessageSerializer(lifecycle.message_cancel(message=message)).data)


@extend_schema(tags=["conversations"])
class ConversationListView(WorkspaceMemberMixin, generics.ListAPIView):
    model = Conversation
    serializer_class = ConversationSerializer

    def get_queryset(self):
        return selectors.conversation_list(workspace=self.workspace)


@extend_schema(tags=["conversations"])
class ConversationDetailView(WorkspaceMemberMixin, APIView):
    @extend_schema(responses=ConversationSerializer, summary="One conversation")
    def get(self, request, workspace_id, conversation_id):
        conversation = selectors.access_conversation(
            workspace=self.workspace, conversation_id=conversation_id
        )
        return Response(ConversationSerializer(conversation).data)


@extend_schema(tags=["conversations"])
class ConversationReadView(_MembersMayWrite, WorkspaceMemberMixin, APIView):
    @extend_schema(request=None, responses=ConversationSerializer, summary="Mark a conversation read")
    def post(self, request, workspace_id, conversation_id):
        conversation = selectors.access_conversation(
            workspace=self.workspace, conversation_id=conversation_id
        )
        return Response(ConversationSerializer(conversation_mark_read(conversation=conversation)).data)


class OptOutSerializer(serializers.ModelSerializer):
    class Meta:
        model = OptOut
        fields = ["phone_number", "keyword", "created_at"]


@extend_schema(tags=["conversations"])
class OptOutListView(WorkspaceMemberMixin, generics.ListAPIView):
    model = OptOut
    serializer_class = OptOutSerializer

    def get_queryset(self):
        return selectors.opt_out_list(workspace=self.workspace)
