from rest_framework import serializers

from messaging_platform.api.fields import StrictCharField, StrictChoiceField, StrictEmailField

from .models import ApiKey, AuthToken, Invitation, Membership, Role


class WorkspaceSerializer(serializers.Serializer):
    id = serializers.CharField(read_only=True)
    name = serializers.CharField(read_only=True)
    role = serializers.ChoiceField(choices=Role.choices, read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    account_sid = serializers.CharField(
        read_only=True, help_text="The AccountSid (HTTP Basic username) of the Twilio-compatible API."
    )
    timezone = serializers.CharField(
        read_only=True,
        help_text="IANA time zone name (`Europe/Paris`): broadcasts' quiet hours use "
        "it for recipients whose number does not tell their zone.",
    )


class WorkspaceInputSerializer(serializers.Serializer):
    name = StrictCharField(max_length=100)


TIMEZONE_HELP = "An IANA time zone name, such as `America/New_York` or `UTC`."


class WorkspaceUpdateSerializer(serializers.Serializer):
    """PUT takes both fields; PATCH any of them (at least one)."""

    name = StrictCharField(max_length=100)
    timezone = StrictCharField(max_length=64, help_text=TIMEZONE_HELP)


class MemberSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="user.id")
    email = serializers.EmailField(source="user.email")
    name = serializers.CharField(source="user.name")
    joined_at = serializers.DateTimeField(source="created_at")

    class Meta:
        model = Membership
        fields = ["id", "email", "name", "role", "joined_at"]


class RoleInputSerializer(serializers.Serializer):
    role = StrictChoiceField(choices=Role.choices)


class InvitationSerializer(serializers.ModelSerializer):
    invited_by = serializers.EmailField(source="invited_by.email", allow_null=True, default=None)

    class Meta:
        model = Invitation
        fields = ["id", "email", "role", "status", "invited_by", "created_at", "expires_at"]


class InvitationInputSerializer(serializers.Serializer):
    email = StrictEmailField(max_length=254)
    role = StrictChoiceField(choices=Role.choices, default=Role.MEMBER)


class InvitationAcceptSerializer(serializers.Serializer):
    token = StrictCharField(max_length=200)


class ApiKeySerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiKey
        fields = ["id", "name", "prefix", "created_at", "last_used_at"]


class ApiKeyCreatedSerializer(ApiKeySerializer):
    key = serializers.CharField(help_text="The full secret, shown in this answer only.")

    class Meta(ApiKeySerializer.Meta):
        fields = ApiKeySerializer.Meta.fields + ["key"]


class ApiKeyInputSerializer(serializers.Serializer):
    name = StrictCharField(max_length=100)


class AuthTokenSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuthToken
        fields = ["id", "name", "prefix", "created_at", "last_used_at"]


class AuthTokenCreatedSerializer(AuthTokenSerializer):
    token = serializers.CharField(help_text="The auth token, shown in this answer only.")

    class Meta(AuthTokenSerializer.Meta):
        fields = AuthTokenSerializer.Meta.fields + ["token"]
