"""Messages, conversations and opt-outs: the integrator API and the UI API."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from messaging_platform.api.exceptions import describe_exception
from messaging_platform.api.idempotency import idempotent
from messaging_platform.api.lean import integrator_post
from messaging_platform.errors import DomainError
from numbers.selectors import workspace_provider_account
from workspaces.scoping import IntegratorWorkspaceMixin, WorkspaceMemberMixin

from . import lifecycle, selectors, sending
from .conversations import conversation_mark_read
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
    OpenApiParameter("updated_since", OpenApiTypes.DATETIME,
                     description="Only messages changed after this moment (catching up after a "
                                 "dropped WebSocket)"),
]

PreviewSerializer = inline_serializer("MessagePreview", {
    "valid": serializers.BooleanField(),
    "characters": serializers.IntegerField(),
    "num_segments": serializers.IntegerField(),
    "encoding": serializers.ChoiceField(choices=["GSM-7", "UCS-2"]),
    "errors": serializers.DictField(child=serializers.ListField(child=serializers.CharField())),
})


def send_one(data, workspace, **origin) -> dict:
    """Validate and send one message; its answer (201)."""
    fields = send_fields(data)
    message = sending.message_send(
        workspace=workspace, to=fields["to"], body=fields["body"],
        media_urls=fields["media_urls"], from_number=fields.get("from"),
        status_callback=fields.get("status_callback", ""),
        scheduled_at=fields.get("scheduled_at"), expires_at=sending.expiry(fields), **origin,
    )
    return message_data(message)


def send_from_request(request, workspace, **origin) -> Response:
    return Response(send_one(request.data, workspace, **origin), status=status.HTTP_201_CREATED)


MAX_BATCH = 1000


def send_batch(data, workspace, **origin) -> dict:
    """Validate each message of a batch on its own, store the valid ones together, answer each
    (200)."""
    items = data.get("messages") if isinstance(data, dict) else None
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH:
        raise DomainError("invalid_params" if isinstance(items, list) else "missing_params",
                          f"`messages` must be a list of 1 to {MAX_BATCH} messages.",
                          fields={"messages": [f"A list of 1 to {MAX_BATCH} messages."]})
    answers: list[dict | None] = [None] * len(items)
    valid: list[tuple[int, sending.SendRequest]] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            answers[index] = _item_error(
                index, DomainError("invalid_params", "Each message must be a JSON object."))
            continue
        try:
            fields = send_fields(item)
        except (DomainError, serializers.ValidationError) as exc:
            answers[index] = _item_error(index, exc)
            continue
        valid.append((index, sending.SendRequest(
            to=fields["to"], body=fields["body"], media_urls=fields["media_urls"],
            from_number=fields.get("from"), status_callback=fields.get("status_callback", ""),
            scheduled_at=fields.get("scheduled_at"), expires_at=sending.expiry(fields))))
    if valid:
        results = sending.message_send_many(workspace=workspace,
                                            requests=[r for _, r in valid], **origin)
        for (index, _), result in zip(valid, results, strict=True):
            if isinstance(result, DomainError):
                answers[index] = _item_error(index, result)
            else:
                answers[index] = {"index": index, "status": 201, "message": message_data(result)}
    return {"data": answers}


def send_batch_from_request(request, workspace, **origin) -> Response:
    return Response(send_batch(request.data, workspace, **origin), status=status.HTTP_200_OK)


def _lean_send(api_key, data) -> tuple[int, dict]:
    return status.HTTP_201_CREATED, send_one(data, api_key.workspace, api_key=api_key)


def _lean_send_batch(api_key, data) -> tuple[int, dict]:
    return status.HTTP_200_OK, send_batch(data, api_key.workspace, api_key=api_key)


def _item_error(index: int, exc: Exception) -> dict:
    code, body, _ = describe_exception(exc)
    return {"index": index, "status": code, "error": body}


def preview_from_request(request, workspace) -> dict:
    body = request.data.get("body") if isinstance(request.data, dict) else None
    errors: dict[str, list[str]] = {}
    fields = None
    try:
        fields = send_fields(request.data)
    except DomainError as exc:  # a malformed phone number is its own error code
        errors = exc.fields or {"non_field_errors": [str(exc.detail)]}
    except serializers.ValidationError as exc:
        detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        errors = {name: [str(m) for m in msgs] for name, msgs in detail.items()}
    if fields is not None:
        try:
            account = workspace_provider_account(workspace=workspace)
            if account is None:
                raise DomainError("provider_not_configured", "This workspace has no carrier account.")
            sending.resolve_sender(workspace=workspace, account=account,
                                   from_number=fields.get("from"), is_mms=bool(fields["media_urls"]),
                                   to=fields["to"])
            sending.ensure_not_opted_out(workspace=workspace, to_number=fields["to"])
        except DomainError as exc:
            errors = exc.fields or {"non_field_errors": [str(exc.detail)]}
    preview = sending.message_preview(body=body if isinstance(body, str) else "")
    return {"valid": not errors, "characters": preview.characters,
            "num_segments": preview.num_segments, "encoding": preview.encoding, "errors": errors}


# Integrator API ---------------------------------------------------------------------------------


@extend_schema(tags=["messages"])
class MessageListView(IntegratorWorkspaceMixin, generics.GenericAPIView):
    serializer_class = MessageSerializer

    # many=True: the answer is the paginated envelope, not one message (schemathesis found it).
    @extend_schema(parameters=LIST_FILTERS, summary="The workspace's messages, newest first",
                   operation_id="messages_list", responses=MessageSerializer(many=True))
    def get(self, request):
        page = self.paginate_queryset(
            selectors.message_list(workspace=self.workspace, filters=request.query_params))
        return self.get_paginated_response(MessageSerializer(page, many=True).data)

    def dispatch(self, request, *args, **kwargs):
        # A send of the common shape skips DRF's dispatch (messaging_platform/api/lean.py).
        response = integrator_post(request, self.allowed_methods, _lean_send)
        return response if response is not None else super().dispatch(request, *args, **kwargs)

    @extend_schema(request=SendInputSerializer, responses={201: MessageSerializer},
                   summary="Send an SMS or MMS")
    @idempotent
    def post(self, request):
        return send_from_request(request, self.workspace, api_key=request.auth)


BatchInputSerializer = inline_serializer("MessageBatchInput", {
    "messages": SendInputSerializer(many=True, help_text=f"1 to {MAX_BATCH} messages"),
})
BatchResultSerializer = inline_serializer("MessageBatchResult", {
    "data": inline_serializer("MessageBatchItem", {
        "index": serializers.IntegerField(),
        "status": serializers.IntegerField(help_text="201 if accepted, else the error's status"),
        "message": MessageSerializer(required=False),
        "error": inline_serializer("MessageBatchError", {
            "error": serializers.CharField(), "detail": serializers.CharField(),
            "fields": serializers.DictField(required=False)}, required=False),
    }, many=True),
})


@extend_schema(tags=["messages"])
class MessageBatchView(IntegratorWorkspaceMixin, APIView):
    def dispatch(self, request, *args, **kwargs):
        response = integrator_post(request, self.allowed_methods, _lean_send_batch)
        return response if response is not None else super().dispatch(request, *args, **kwargs)

    @extend_schema(request=BatchInputSerializer, responses={200: BatchResultSerializer},
                   summary="Send up to 1,000 messages, each accepted or refused on its own")
    @idempotent
    def post(self, request):
        return send_batch_from_request(request, self.workspace, api_key=request.auth)


@extend_schema(tags=["messages"])
class MessagePreviewView(IntegratorWorkspaceMixin, APIView):
    @extend_schema(request=SendInputSerializer, responses=PreviewSerializer,
                   summary="Segments, encoding and validation of a message, without sending it")
    def post(self, request):
        return Response(preview_from_request(request, self.workspace))


@extend_schema(tags=["messages"])
class MessageDetailView(IntegratorWorkspaceMixin, APIView):
    @extend_schema(responses=MessageSerializer, summary="One message")
    def get(self, request, message_id):
        message = selectors.access_message(workspace=self.workspace, message_id=message_id)
        return Response(MessageSerializer(message).data)


@extend_schema(tags=["messages"])
class MessageCancelView(IntegratorWorkspaceMixin, APIView):
    @extend_schema(request=None, responses=MessageSerializer, summary="Cancel a scheduled message")
    def post(self, request, message_id):
        message = selectors.access_message(workspace=self.workspace, message_id=message_id)
        return Response(MessageSerializer(lifecycle.message_cancel(message=message)).data)


# UI API -----------------------------------------------------------------------------------------


class _MembersMayWrite:
    def requires_manager(self, request) -> bool:
        return False  # sending and reading threads is every member's work


@extend_schema(tags=["messages"])
class WorkspaceMessageListView(_MembersMayWrite, WorkspaceMemberMixin, generics.GenericAPIView):
    queryset = Message.objects.all()
    serializer_class = MessageSerializer

    @extend_schema(
        parameters=LIST_FILTERS, summary="The workspace's messages (documented envelope)",
        operation_id="ui_workspaces_messages_list",
        responses=inline_serializer("WorkspaceMessagePage", {
            "data": MessageSerializer(many=True),
            "messages": MessageSerializer(many=True),
            "pagination": inline_serializer("MessagePagination", {
                "currentPage": serializers.IntegerField(),
                "totalPages": serializers.IntegerField(),
                "totalItems": serializers.IntegerField(),
                "totalMessages": serializers.IntegerField(),
                "hasNext": serializers.BooleanField(),
            }),
        }),
    )
    def get(self, request, workspace_id):
        page = self.paginate_queryset(
            selectors.message_list(workspace=self.workspace, filters=request.query_params))
        envelope = self.paginator.envelope(MessageSerializer(page, many=True).data)
        # The documented page of this endpoint also names them `messages` and `totalMessages`.
        envelope["messages"] = envelope["data"]
        envelope["pagination"]["totalMessages"] = envelope["pagination"]["totalItems"]
        return Response(envelope)

    @extend_schema(request=SendInputSerializer, responses={201: MessageSerializer},
                   summary="Send an SMS or MMS from the UI")
    @idempotent
    def post(self, request, workspace_id):
        return send_from_request(request, self.workspace, sent_by=request.user)


@extend_schema(tags=["messages"])
class WorkspaceMessagePreviewView(_MembersMayWrite, WorkspaceMemberMixin, APIView):
    @extend_schema(request=SendInputSerializer, responses=PreviewSerializer,
                   summary="Segments, encoding and validation of a message, without sending it")
    def post(self, request, workspace_id):
        return Response(preview_from_request(request, self.workspace))


@extend_schema(tags=["messages"])
class WorkspaceMessageDetailView(WorkspaceMemberMixin, APIView):
    @extend_schema(responses=MessageSerializer, summary="One message")
    def get(self, request, workspace_id, message_id):
        message = selectors.access_message(workspace=self.workspace, message_id=message_id)
        return Response(MessageSerializer(message).data)


@extend_schema(tags=["messages"])
class WorkspaceMessageCancelView(_MembersMayWrite, WorkspaceMemberMixin, APIView):
    @extend_schema(request=None, responses=MessageSerializer, summary="Cancel a scheduled message")
    def post(self, request, workspace_id, message_id):
        message = selectors.access_message(workspace=self.workspace, message_id=message_id)
        return Response(MessageSerializer(lifecycle.message_cancel(message=message)).data)


@extend_schema(tags=["conversations"])
class ConversationListView(WorkspaceMemberMixin, generics.ListAPIView):
    queryset = Conversation.objects.all()
    serializer_class = ConversationSerializer

    def get_queryset(self):
        return selectors.conversation_list(workspace=self.workspace)


@extend_schema(tags=["conversations"])
class ConversationDetailView(WorkspaceMemberMixin, APIView):
    @extend_schema(responses=ConversationSerializer, summary="One conversation")
    def get(self, request, workspace_id, conversation_id):
        conversation = selectors.access_conversation(workspace=self.workspace,
                                                     conversation_id=conversation_id)
        return Response(ConversationSerializer(conversation).data)


@extend_schema(tags=["conversations"])
class ConversationReadView(_MembersMayWrite, WorkspaceMemberMixin, APIView):
    @extend_schema(request=None, responses=ConversationSerializer,
                   summary="Mark a conversation read")
    def post(self, request, workspace_id, conversation_id):
        conversation = selectors.access_conversation(workspace=self.workspace,
                                                     conversation_id=conversation_id)
        return Response(ConversationSerializer(conversation_mark_read(conversation=conversation)).data)


class OptOutSerializer(serializers.ModelSerializer):
    class Meta:
        model = OptOut
        fields = ["phone_number", "keyword", "created_at"]


@extend_schema(tags=["conversations"])
class OptOutListView(WorkspaceMemberMixin, generics.ListAPIView):
    queryset = OptOut.objects.all()
    serializer_class = OptOutSerializer

    def get_queryset(self):
        return selectors.opt_out_list(workspace=self.workspace)
