"""The Twilio-compatible endpoints: thin views over services.py and resources.py. Every answer,
errors included, is in Twilio's shape."""

from __future__ import annotations

import logging

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from messaging_platform.api.mixins import RateLimitHeadersMixin

from . import resources, services
from .auth import CompatRateLimit, HasCompatCredential, TwilioBasicAuthentication
from .errors import internal_error, not_found
from .responses import error_response, from_exception

logger = logging.getLogger(__name__)

TWILIO_ERROR = OpenApiResponse(
    description="An error in Twilio's shape (docs/twilio-compat.md lists the codes)",
    response=inline_serializer(
        "TwilioError",
        {
            "code": serializers.IntegerField(),
            "message": serializers.CharField(),
            "more_info": serializers.URLField(),
            "status": serializers.IntegerField(),
        },
    ),
)
_ERROR_CODES = (400, 401, 403, 404, 405, 409, 413, 415, 429, 500, 503)


def answers(code: int, body) -> dict:
    """A success answer plus every error status, each in Twilio's error shape."""
    return {code: body, **dict.fromkeys(_ERROR_CODES, TWILIO_ERROR)}


OK, CREATED, DELETED = answers(200, dict), answers(201, dict), answers(204, None)


PAGING = [
    OpenApiParameter("PageSize", int),
    OpenApiParameter("Page", int),
    OpenApiParameter("PageToken", str),
]


class TwilioView(RateLimitHeadersMixin, APIView):
    """Basic auth as Twilio's SDKs send it, form-encoded input, Twilio-shaped errors; the
    AccountSid in the URL must be the credential's own (another's is a 404, like a missing one)."""

    authentication_classes = [TwilioBasicAuthentication]
    permission_classes = [HasCompatCredential]
    throttle_classes = [CompatRateLimit]
    parser_classes = [FormParser, MultiPartParser]
    renderer_classes = [JSONRenderer]

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.workspace = request.auth.workspace
        if "account_sid" in kwargs and kwargs["account_sid"] != self.workspace.account_sid:
            raise not_found(request.path)

    def handle_exception(self, exc):
        error = from_exception(exc, self.request.path)
        if error is None:
            logger.exception("Unhandled error on %s %s", self.request.method, self.request.path)
            error = internal_error()
        response = error_response(error)
        response.exception = True
        return response

    def params(self):
        """Form fields for writes, the query string for reads (the SDKs send both this way)."""
        return self.request.data if self.request.method == "POST" else self.request.query_params


@extend_schema(tags=["twilio-compatible"])
class AccountListView(TwilioView):
    @extend_schema(summary="The credential's own account, as a one-item list", responses=OK)
    def get(self, request):
        envelope = resources.page_envelope(
            key="accounts",
            items=[resources.account_resource(self.workspace)],
            path=f"{resources.ROOT}/Accounts.json",
            filters={},
            page=0,
            page_size=50,
            next_token=None,
        )
        return Response(envelope)


@extend_schema(tags=["twilio-compatible"])
class AccountView(TwilioView):
    @extend_schema(summary="Fetch the account (the workspace)", responses=OK)
    def get(self, request, account_sid):
        return Response(resources.account_resource(self.workspace))


@extend_schema(tags=["twilio-compatible"])
class MessageListView(TwilioView):
    @extend_schema(
        summary="List messages, newest first (Twilio's paging and filters)",
        parameters=[
            OpenApiParameter("To", str),
            OpenApiParameter("From", str),
            OpenApiParameter("DateSent", str),
            *PAGING,
        ],
        responses=OK,
    )
    def get(self, request, account_sid):
        params = self.params()
        page = services.paginate(
            services.message_list(workspace=self.workspace, params=params), params=params, token_kind="msg"
        )
        filters = {
            name: params[name]
            for name in ("To", "From", "DateSent", "DateSent<", "DateSent>")
            if params.get(name)
        }
        return Response(
            resources.page_envelope(
                key="messages",
                items=[resources.message_resource(m, self.workspace) for m in page.items],
                path=request.path,
                filters=filters,
                page=page.page,
                page_size=page.page_size,
                next_token=page.next_token,
            )
        )

    @extend_schema(
        summary="Send a message (form-encoded: To, From or MessagingServiceSid, Body, "
        "MediaUrl, StatusCallback, ValidityPeriod, SendAt, ScheduleType)",
        request=None,
        responses=CREATED,
    )
    def post(self, request, account_sid):
        params = services.parse_create_params(workspace=self.workspace, params=self.params())
        message = services.message_create(
            workspace=self.workspace, params=params, api_key=request.auth.api_key
        )
        return Response(resources.message_resource(message, self.workspace), status=status.HTTP_201_CREATED)


@extend_schema(tags=["twilio-compatible"])
class MessageView(TwilioView):
    def message(self, sid):
        return services.access_message(workspace=self.workspace, sid=sid, path=self.request.path)

    @extend_schema(summary="Fetch a message", responses=OK)
    def get(self, request, account_sid, sid):
        return Response(resources.message_resource(self.message(sid), self.workspace))

    @extend_schema(
        summary="Cancel a scheduled message (Status=canceled) or redact one (Body=)",
        request=None,
        responses=OK,
    )
    def post(self, request, account_sid, sid):
        message = services.message_update(message=self.message(sid), params=self.params())
        return Response(resources.message_resource(message, self.workspace))

    @extend_schema(summary="Delete a finished message", responses=DELETED)
    def delete(self, request, account_sid, sid):
        services.message_delete(message=self.message(sid))
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["twilio-compatible"])
class IncomingPhoneNumberListView(TwilioView):
    @extend_schema(
        summary="List the workspace's numbers",
        parameters=[OpenApiParameter("PhoneNumber", str), OpenApiParameter("FriendlyName", str), *PAGING],
        responses=OK,
    )
    def get(self, request, account_sid):
        params = self.params()
        page = services.paginate(
            services.number_list(workspace=self.workspace, params=params), params=params, token_kind="pn"
        )
        filters = {name: params[name] for name in ("PhoneNumber", "FriendlyName") if params.get(name)}
        items = [resources.number_resource(n, self.workspace, services.webhooks_of(n)) for n in page.items]
        return Response(
            resources.page_envelope(
                key="incoming_phone_numbers",
                items=items,
                path=request.path,
                filters=filters,
                page=page.page,
                page_size=page.page_size,
                next_token=page.next_token,
            )
        )


@extend_schema(tags=["twilio-compatible"])
class IncomingPhoneNumberView(TwilioView):
    def number(self, sid):
        return services.access_number(workspace=self.workspace, sid=sid, path=self.request.path)

    @extend_schema(summary="Fetch a number", responses=OK)
    def get(self, request, account_sid, sid):
        number = self.number(sid)
        return Response(resources.number_resource(number, self.workspace, services.webhooks_of(number)))

    @extend_schema(
        summary="Update SmsUrl, SmsMethod, StatusCallback(Method), FriendlyName", request=None, responses=OK
    )
    def post(self, request, account_sid, sid):
        number = services.number_configure(number=self.number(sid), params=self.params())
        return Response(resources.number_resource(number, self.workspace, services.webhooks_of(number)))


def unknown_path(request, rest: str = ""):
    """Anything else under /2010-04-01/: Twilio's 404."""
    from django.http import JsonResponse

    error = not_found(request.path)
    return JsonResponse(
        {
            "code": error.code,
            "message": error.message,
            "more_info": f"https://www.twilio.com/docs/errors/{error.code}",
            "status": 404,
        },
        status=404,
    )
