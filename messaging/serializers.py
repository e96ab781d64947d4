from django.utils import timezone
from rest_framework import serializers

from messaging_platform.api.fields import StrictCharField, StrictIntegerField, StrictURLField
from numbers.serializers import E164Field, SenderField

from .events import message_payload
from .models import Conversation, Direction, Status
from .segments import MAX_BODY_CHARACTERS
from .send_limits import MAX_MEDIA, MAX_SCHEDULE_AHEAD
from .urlsafety import UnsafeUrl, check_public_url

MAX_VALIDITY_SECONDS = 14 * 24 * 3600


class MessageSerializer(serializers.Serializer):
    """The message object: the documented fields first, in the documented order."""

    id = serializers.CharField()
    direction = serializers.ChoiceField(choices=Direction.choices)
    to = serializers.CharField(source="to_number")
    # `from` is a Python keyword, so it is added to the class namespace by name.
    vars()["from"] = serializers.CharField(source="from_number_or_none", allow_null=True)
    body = serializers.CharField()
    status = serializers.ChoiceField(choices=Status.choices)
    provider_sid = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    sid = serializers.CharField(source="id")
    media_urls = serializers.ListField(child=serializers.URLField())
    num_segments = serializers.IntegerField()
    encoding = serializers.ChoiceField(choices=["GSM-7", "UCS-2"])
    error_code = serializers.CharField(allow_null=True)
    error_message = serializers.CharField(allow_null=True)
    scheduled_at = serializers.DateTimeField(allow_null=True)
    sent_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)
    updated_at = serializers.DateTimeField()
    conversation_id = serializers.CharField(allow_null=True)
    broadcast_id = serializers.CharField(allow_null=True)

    def to_representation(self, instance) -> dict:
        # The fields above describe the schema; the payload function writes the object, so that
        # the API and every event show a message the same way.
        return message_payload(instance)


def message_data(message) -> dict:
    """A message as the API shows it."""
    return message_payload(message)


class MediaUrlsField(serializers.ListField):
    """One URL or a list of up to ten, each http(s)."""

    child = StrictURLField(max_length=2000)

    def __init__(self, **kwargs):
        super().__init__(max_length=MAX_MEDIA, **kwargs)

    def to_internal_value(self, data):
        if isinstance(data, str):
            data = [data]
        urls = super().to_internal_value(data)
        for url in urls:
            if not url.lower().startswith(("http://", "https://")):
                raise serializers.ValidationError("Media URLs must be http or https.")
            try:
                # The address rules of status_callback (no loopback, private or metadata hosts);
                # plain http stays allowed, as media always was.
                check_public_url(url, allow_http=True)
            except UnsafeUrl as exc:
                raise serializers.ValidationError(str(exc)) from exc
        return urls


class SendInputSerializer(serializers.Serializer):
    to = E164Field()
    body = StrictCharField(
        max_length=MAX_BODY_CHARACTERS, required=False, allow_blank=True, trim_whitespace=False
    )
    mediaUrl = MediaUrlsField(required=False)  # noqa: N815 - the documented name
    media_urls = MediaUrlsField(required=False)
    status_callback = StrictURLField(max_length=2000, required=False, allow_blank=True)
    scheduled_at = serializers.DateTimeField(required=False, allow_null=True)
    # Seconds: a message still not sent by then ends `failed` with `expired`.
    validity_period = StrictIntegerField(
        required=False, allow_null=True, min_value=1, max_value=MAX_VALIDITY_SECONDS
    )

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = SenderField(required=False, allow_null=True)
        return fields

    def validate_status_callback(self, value: str) -> str:
        if value:
            try:
                check_public_url(value)  # the same rules as webhook endpoints
            except UnsafeUrl as exc:
                raise serializers.ValidationError(str(exc)) from exc
        return value

    def validate_scheduled_at(self, value):
        if value is None:
            return None
        now = timezone.now()
        if value <= now:
            raise serializers.ValidationError("Must be in the future.")
        if value > now + MAX_SCHEDULE_AHEAD:
            raise serializers.ValidationError("Must be at most 35 days ahead.")
        return value

    def validate(self, attrs):
        media = attrs.pop("mediaUrl", None) or attrs.pop("media_urls", None) or []
        attrs.pop("media_urls", None)
        attrs["media_urls"] = media
        if not attrs.get("body") and not media:
            raise serializers.ValidationError(
                {"body": [serializers.ErrorDetail("This field is required.", code="required")]}
            )
        attrs.setdefault("body", "")
        return attrs


class ConversationSerializer(serializers.ModelSerializer):
    last_message = MessageSerializer(allow_null=True)
    # The name of the contact of contact_number (messaging.contacts), null when there is none.
    contact_name = serializers.SerializerMethodField()

    class Meta:
        model = Conversation
        fields = [
            "id",
            "our_number",
            "contact_number",
            "contact_name",
            "last_message",
            "last_message_at",
            "unread_count",
            "created_at",
        ]

    def get_contact_name(self, conversation) -> str | None:
        return getattr(conversation, "contact_name", None) or None
