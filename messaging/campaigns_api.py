"""Campaigns in the UI API: contacts (with CSV import and export), message templates, broadcasts,
and the messages log as CSV."""

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import BaseParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from messaging_platform.api.idempotency import idempotent
from messaging_platform.api.pagination import PagePagination
from messaging_platform.errors import invalid_params
from workspaces.scoping import WorkspaceMemberMixin

from . import broadcasts, contacts, message_templates, selectors
from .filters import parse_message_filters
from .models import Contact, ContactImport, MessageTemplate


class _MembersMayWrite:
    def requires_manager(self, request) -> bool:
        return False  # keeping contacts and templates is every member's work


class CsvPassthroughParser(BaseParser):
    """Accepts a `text/csv` body; the view reads the request stream itself."""

    media_type = "text/csv"

    def parse(self, stream, media_type=None, parser_context=None):
        return {}


def _moment(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def contact_data(contact: Contact) -> dict:
    return {
        "id": contact.id,
        "phone_number": contact.phone_number,
        "name": contact.name,
        "fields": contact.fields,
        "tags": contact.tags,
        "opted_out": bool(getattr(contact, "opted_out", False)),
        "created_at": _moment(contact.created_at),
        "updated_at": _moment(contact.updated_at),
    }


def import_data(job: ContactImport) -> dict:
    return {
        "id": job.id,
        "status": job.status,
        "filename": job.filename,
        "total_rows": job.total_rows,
        "processed_rows": job.processed_rows,
        "created": job.created_count,
        "updated": job.updated_count,
        "errors_count": job.error_count,
        "errors": job.errors,
        "failure": job.failure or None,
        "created_at": _moment(job.created_at),
        "finished_at": _moment(job.finished_at),
    }


def template_data(template: MessageTemplate) -> dict:
    return {
        "id": template.id,
        "name": template.name,
        "body": template.body,
        "variables": message_templates.variables_of(template.body),
        "created_at": _moment(template.created_at),
        "updated_at": _moment(template.updated_at),
    }


_CONTACT_FIELDS = {
    "id": serializers.CharField(),
    "phone_number": serializers.CharField(),
    "name": serializers.CharField(),
    "fields": serializers.DictField(child=serializers.CharField()),
    "tags": serializers.ListField(child=serializers.CharField()),
    "opted_out": serializers.BooleanField(),
    "created_at": serializers.DateTimeField(),
    "updated_at": serializers.DateTimeField(),
}
ContactSchema = inline_serializer("Contact", _CONTACT_FIELDS)
ContactInput = inline_serializer(
    "ContactInput",
    {
        "phone_number": serializers.CharField(),
        "name": serializers.CharField(required=False),
        "fields": serializers.DictField(child=serializers.CharField(), required=False),
        "tags": serializers.ListField(child=serializers.CharField(), required=False),
    },
)
ImportSchema = inline_serializer(
    "ContactImport",
    {
        "id": serializers.CharField(),
        "status": serializers.ChoiceField(["running", "completed", "failed"]),
        "filename": serializers.CharField(),
        "total_rows": serializers.IntegerField(),
        "processed_rows": serializers.IntegerField(),
        "created": serializers.IntegerField(),
        "updated": serializers.IntegerField(),
        "errors_count": serializers.IntegerField(),
        "errors": serializers.ListField(child=serializers.DictField()),
        "failure": serializers.CharField(allow_null=True),
        "created_at": serializers.DateTimeField(),
        "finished_at": serializers.DateTimeField(allow_null=True),
    },
)
_TEMPLATE_FIELDS = {
    "id": serializers.CharField(),
    "name": serializers.CharField(),
    "body": serializers.CharField(),
    "variables": serializers.ListField(child=serializers.CharField()),
    "created_at": serializers.DateTimeField(),
    "updated_at": serializers.DateTimeField(),
}
TemplateSchema = inline_serializer("MessageTemplate", _TEMPLATE_FIELDS)
TemplateInput = inline_serializer(
    "MessageTemplateInput",
    {
        "name": serializers.CharField(),
        "body": serializers.CharField(),
    },
)
TemplatePreviewInput = inline_serializer(
    "TemplatePreviewInput",
    {
        "body": serializers.CharField(required=False),
        "template_id": serializers.CharField(required=False),
        "contact_ids": serializers.ListField(child=serializers.CharField(), required=False),
        "variables": serializers.DictField(child=serializers.CharField(), required=False),
    },
)

CONTACT_FILTERS = [
    OpenApiParameter("search", OpenApiTypes.STR, description="Text in the name, or digits of the number"),
    OpenApiParameter("tag", OpenApiTypes.STR, many=True, description="Contacts with every tag given"),
    OpenApiParameter(
        "field.<name>",
        OpenApiTypes.STR,
        description="Contacts whose field <name> equals the value, e.g. field.city=Paris",
    ),
    OpenApiParameter("opted_out", OpenApiTypes.BOOL),
]


def _body_object(request) -> dict:
    if not isinstance(request.data, dict):
        raise invalid_params("The body must be a JSON object.")
    return request.data


def _contact_filters(request) -> dict:
    params = request.query_params
    opted_out = params.get("opted_out")
    if opted_out not in (None, "", "true", "false"):
        raise invalid_params("opted_out must be true or false.", {"opted_out": ["true or false."]})
    return {
        "search": params.get("search", ""),
        "tags": [t for raw in params.getlist("tag") for t in raw.split(",") if t.strip()],
        "fields": {k.removeprefix("field."): v for k, v in params.items() if k.startswith("field.")},
        "opted_out": None if opted_out in (None, "") else opted_out == "true",
    }


@extend_schema(tags=["contacts"])
class ContactListView(_MembersMayWrite, WorkspaceMemberMixin, APIView):
    @extend_schema(
        parameters=CONTACT_FILTERS,
        responses=inline_serializer("Contact", _CONTACT_FIELDS, many=True),
        summary="List contacts",
        description="Paginated, newest first.",
    )
    def get(self, request, workspace_id):
        found = contacts.contact_list(workspace=self.workspace, **_contact_filters(request))
        paginator = PagePagination()
        page = paginator.paginate_queryset(found, request, view=self)
        return paginator.get_paginated_response([contact_data(c) for c in page])

    @extend_schema(request=ContactInput, responses={201: ContactSchema}, summary="Add a contact")
    @idempotent
    def post(self, request, workspace_id):
        data = _body_object(request)
        if not data.get("phone_number"):
            raise invalid_params("phone_number is required.", {"phone_number": ["Required."]})
        contact = contacts.contact_create(
            workspace=self.workspace,
            phone_number=data["phone_number"],
            name=data.get("name", ""),
            fields=data.get("fields") or {},
            tags=data.get("tags") or [],
        )
        return Response(contact_data(contact), status=status.HTTP_201_CREATED)


@extend_schema(tags=["contacts"])
class ContactDetailView(_MembersMayWrite, WorkspaceMemberMixin, APIView):
    @extend_schema(responses=ContactSchema, summary="One contact")
    def get(self, request, workspace_id, contact_id):
        return Response(
            contact_data(contacts.access_contact(workspace=self.workspace, contact_id=contact_id))
        )

    @extend_schema(
        request=ContactInput,
        responses=ContactSchema,
        summary="Change a contact",
        description="Only the fields given change; `fields` and `tags` are replaced whole.",
    )
    def patch(self, request, workspace_id, contact_id):
        contact = contacts.access_contact(workspace=self.workspace, contact_id=contact_id)
        changes = {
            k: v for k, v in _body_object(request).items() if k in ("phone_number", "name", "fields", "tags")
        }
        return Response(contact_data(contacts.contact_update(contact=contact, changes=changes)))

    @extend_schema(responses={204: None}, summary="Delete a contact")
    def delete(self, request, workspace_id, contact_id):
        contacts.contact_delete(
            contact=contacts.access_contact(workspace=self.workspace, contact_id=contact_id)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["contacts"])
class ContactImportView(_MembersMayWrite, WorkspaceMemberMixin, APIView):
    parser_classes = [MultiPartParser, CsvPassthroughParser]

    @extend_schema(
        request={
            "multipart/form-data": inline_serializer(
                "ContactImportUpload", {"file": serializers.FileField()}
            ),
            "text/csv": OpenApiTypes.STR,
        },
        responses={202: ImportSchema},
        summary="Import contacts from a CSV",
        description="A header row with `phone_number` (required), `name`, `tags` (separated by `;`) "
        "and any other column as a field; up to 100,000 rows. Answers at once; a worker "
        "applies the rows, and `GET …/contacts/import/{id}` shows the progress and each "
        "refused row (bad number, duplicate). A row is applied whole or not at all.",
    )
    def post(self, request, workspace_id):
        if (request.content_type or "").startswith("text/csv"):
            stream, filename = contacts.read_upload(request.stream), "upload.csv"
        else:
            upload = request.FILES.get("file")
            if upload is None:
                raise invalid_params(
                    "Send the CSV as the multipart field `file`, or as a text/csv body.",
                    {"file": ["Required."]},
                )
            stream, filename = contacts.read_upload(upload), upload.name or ""
        job = contacts.contact_import_start(
            workspace=self.workspace, stream=stream, filename=filename, created_by=request.user
        )
        job.refresh_from_db()
        return Response(import_data(job), status=status.HTTP_202_ACCEPTED)


@extend_schema(tags=["contacts"])
class ContactImportDetailView(WorkspaceMemberMixin, APIView):
    @extend_schema(responses=ImportSchema, summary="An import's progress and errors")
    def get(self, request, workspace_id, import_id):
        return Response(
            import_data(contacts.access_contact_import(workspace=self.workspace, import_id=import_id))
        )


def _csv_response(rows, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@extend_schema(tags=["contacts"])
class ContactExportView(WorkspaceMemberMixin, APIView):
    @extend_schema(
        parameters=CONTACT_FILTERS,
        responses={(200, "text/csv"): OpenApiTypes.STR},
        summary="Export contacts as CSV",
        description="The same filters as the list; streamed.",
    )
    def get(self, request, workspace_id):
        found = contacts.contact_list(workspace=self.workspace, **_contact_filters(request))
        return _csv_response(contacts.contacts_csv(found), "contacts.csv")


@extend_schema(tags=["messages"])
class MessageExportView(WorkspaceMemberMixin, APIView):
    @extend_schema(
        responses={(200, "text/csv"): OpenApiTypes.STR},
        summary="Export the messages log as CSV",
        description="The messages list's filters (direction, status, from, to, startDate, "
        "endDate, conversation, search); streamed, newest first.",
    )
    def get(self, request, workspace_id):
        found = selectors.message_list(
            workspace=self.workspace, filters=parse_message_filters(request.query_params)
        )
        return _csv_response(contacts.messages_csv(found), "messages.csv")


@extend_schema(tags=["templates"])
class TemplateListView(_MembersMayWrite, WorkspaceMemberMixin, APIView):
    @extend_schema(
        responses=inline_serializer("MessageTemplate", _TEMPLATE_FIELDS, many=True), summary="List templates"
    )
    def get(self, request, workspace_id):
        paginator = PagePagination()
        page = paginator.paginate_queryset(
            message_templates.template_list(workspace=self.workspace), request, view=self
        )
        return paginator.get_paginated_response([template_data(t) for t in page])

    @extend_schema(request=TemplateInput, responses={201: TemplateSchema}, summary="Add a template")
    @idempotent
    def post(self, request, workspace_id):
        data = _body_object(request)
        template = message_templates.template_create(
            workspace=self.workspace, name=data.get("name"), body=data.get("body")
        )
        return Response(template_data(template), status=status.HTTP_201_CREATED)


@extend_schema(tags=["templates"])
class TemplateDetailView(_MembersMayWrite, WorkspaceMemberMixin, APIView):
    @extend_schema(responses=TemplateSchema, summary="One template")
    def get(self, request, workspace_id, template_id):
        return Response(
            template_data(
                message_templates.access_template(workspace=self.workspace, template_id=template_id)
            )
        )

    @extend_schema(request=TemplateInput, responses=TemplateSchema, summary="Change a template")
    def patch(self, request, workspace_id, template_id):
        template = message_templates.access_template(workspace=self.workspace, template_id=template_id)
        data = _body_object(request)
        return Response(
            template_data(
                message_templates.template_update(
                    template=template, name=data.get("name"), body=data.get("body")
                )
            )
        )

    @extend_schema(responses={204: None}, summary="Delete a template")
    def delete(self, request, workspace_id, template_id):
        template = message_templates.access_template(workspace=self.workspace, template_id=template_id)
        message_templates.template_delete(template=template)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["templates"])
class TemplatePreviewView(_MembersMayWrite, WorkspaceMemberMixin, APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        request=TemplatePreviewInput,
        responses=inline_serializer(
            "TemplatePreview", {"renderings": serializers.ListField(child=serializers.DictField())}
        ),
        summary="Render a template for some contacts",
        description="`body` or `template_id`; for `contact_ids` (up to 20) or one set of `variables`. "
        "Each rendering has the text, characters, segments and encoding, which characters "
        "make it UCS-2 or cost extra units, and the GSM-7 text smart encoding would send; "
        "a missing variable without a default is that rendering's `error`.",
    )
    def post(self, request, workspace_id):
        data = _body_object(request)
        return Response(
            {
                "renderings": message_templates.template_preview(
                    workspace=self.workspace,
                    body=data.get("body"),
                    template_id=data.get("template_id"),
                    contact_ids=data.get("contact_ids"),
                    variables=data.get("variables"),
                )
            }
        )


BroadcastInput = inline_serializer(
    "BroadcastInput",
    {
        "name": serializers.CharField(),
        "template_id": serializers.CharField(required=False),
        "body": serializers.CharField(required=False),
        "audience": serializers.DictField(),
        "from": serializers.CharField(required=False),
        "scheduled_at": serializers.DateTimeField(required=False),
        "quiet_hours": serializers.DictField(child=serializers.CharField(), required=False),
        "validity_period": serializers.IntegerField(required=False),
        "draft": serializers.BooleanField(required=False),
    },
)
_BROADCAST_FIELDS = {
    "id": serializers.CharField(),
    "name": serializers.CharField(),
    "status": serializers.ChoiceField(["draft", "scheduled", "sending", "completed", "canceled"]),
    "template_id": serializers.CharField(allow_null=True),
    "body": serializers.CharField(),
    "audience": serializers.DictField(),
    "from": serializers.CharField(allow_null=True),
    "scheduled_at": serializers.DateTimeField(allow_null=True),
    "quiet_hours": serializers.DictField(allow_null=True),
    "validity_period": serializers.IntegerField(allow_null=True),
    "counts": serializers.DictField(child=serializers.IntegerField()),
    "skipped": serializers.ListField(child=serializers.DictField()),
    "created_at": serializers.DateTimeField(),
    "started_at": serializers.DateTimeField(allow_null=True),
    "completed_at": serializers.DateTimeField(allow_null=True),
    "canceled_at": serializers.DateTimeField(allow_null=True),
}
BroadcastSchema = inline_serializer("Broadcast", _BROADCAST_FIELDS)


@extend_schema(tags=["broadcasts"])
class BroadcastListView(_MembersMayWrite, WorkspaceMemberMixin, APIView):
    @extend_schema(
        responses=inline_serializer("Broadcast", _BROADCAST_FIELDS, many=True), summary="List broadcasts"
    )
    def get(self, request, workspace_id):
        paginator = PagePagination()
        page = paginator.paginate_queryset(
            broadcasts.broadcast_list(workspace=self.workspace), request, view=self
        )
        return paginator.get_paginated_response([broadcasts.broadcast_data(b) for b in page])

    @extend_schema(
        request=BroadcastInput,
        responses={201: BroadcastSchema},
        summary="Make a broadcast",
        description="Starts at once, at `scheduled_at`, or not before `POST …/{id}/send` when `draft` "
        "is true. `audience.tags` takes the contacts with any of the tags. Opted-out "
        "contacts are skipped and counted; `quiet_hours` hold each message until the "
        "recipient's local end of quiet (the zone from the number, else the workspace's); "
        "a message not sent within `validity_period` seconds ends `failed` with `expired`.",
    )
    @idempotent
    def post(self, request, workspace_id):
        data = _body_object(request)
        draft = data.get("draft", False)
        if not isinstance(draft, bool):
            raise invalid_params("draft must be true or false.", {"draft": ["true or false."]})
        broadcast = broadcasts.broadcast_create(
            workspace=self.workspace,
            name=data.get("name"),
            audience=data.get("audience"),
            body=data.get("body"),
            template_id=data.get("template_id"),
            from_number=data.get("from"),
            scheduled_at=data.get("scheduled_at"),
            quiet_hours=data.get("quiet_hours"),
            validity_period=data.get("validity_period"),
            draft=draft,
            created_by=request.user,
        )
        return Response(broadcasts.broadcast_data(broadcast, fresh=True), status=status.HTTP_201_CREATED)


@extend_schema(tags=["broadcasts"])
class BroadcastDetailView(WorkspaceMemberMixin, APIView):
    @extend_schema(responses=BroadcastSchema, summary="One broadcast, with its counts")
    def get(self, request, workspace_id, broadcast_id):
        return Response(
            broadcasts.broadcast_data(
                broadcasts.access_broadcast(workspace=self.workspace, broadcast_id=broadcast_id)
            )
        )


@extend_schema(tags=["broadcasts"])
class BroadcastPreviewView(_MembersMayWrite, WorkspaceMemberMixin, APIView):
    @extend_schema(
        request=None,
        responses=inline_serializer(
            "BroadcastPreview",
            {
                "messages": serializers.IntegerField(),
                "segments": serializers.IntegerField(),
                "skipped_opted_out": serializers.IntegerField(),
                "skipped_invalid": serializers.IntegerField(),
                "samples": serializers.ListField(child=serializers.DictField()),
                "skipped": serializers.ListField(child=serializers.DictField()),
            },
        ),
        summary="What a broadcast would send now: samples, totals, skipped recipients and why",
    )
    def post(self, request, workspace_id, broadcast_id):
        broadcast = broadcasts.access_broadcast(workspace=self.workspace, broadcast_id=broadcast_id)
        return Response(broadcasts.broadcast_preview(broadcast=broadcast))


@extend_schema(tags=["broadcasts"])
class BroadcastSendView(_MembersMayWrite, WorkspaceMemberMixin, APIView):
    @extend_schema(request=None, responses=BroadcastSchema, summary="Send a draft broadcast")
    def post(self, request, workspace_id, broadcast_id):
        broadcast = broadcasts.access_broadcast(workspace=self.workspace, broadcast_id=broadcast_id)
        return Response(
            broadcasts.broadcast_data(broadcasts.broadcast_start(broadcast=broadcast), fresh=True)
        )


@extend_schema(tags=["broadcasts"])
class BroadcastCancelView(_MembersMayWrite, WorkspaceMemberMixin, APIView):
    @extend_schema(
        request=None,
        responses=BroadcastSchema,
        summary="Cancel a broadcast",
        description="Its unsent messages end `canceled`; sent ones are not recalled.",
    )
    def post(self, request, workspace_id, broadcast_id):
        broadcast = broadcasts.access_broadcast(workspace=self.workspace, broadcast_id=broadcast_id)
        return Response(
            broadcasts.broadcast_data(broadcasts.broadcast_cancel(broadcast=broadcast), fresh=True)
        )
