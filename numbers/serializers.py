from rest_framework import serializers

from .models import NumberType, PhoneNumber, ProviderAccount, ProviderKind
from .phone import E164Field

ACCOUNT_SID_PATTERN = r"^AC[0-9a-fA-F]{32}$"
MESSAGING_SERVICE_SID_PATTERN = r"^MG[0-9a-fA-F]{32}$"


class ProviderAccountSerializer(serializers.Serializer):
    """The carrier account as the API shows it: never a secret, only whether one is set."""

    provider = serializers.ChoiceField(choices=ProviderKind.choices, allow_null=True)
    account_sid = serializers.CharField(allow_null=True)
    messaging_service_sid = serializers.CharField(allow_null=True)
    auth_token_set = serializers.BooleanField()
    updated_at = serializers.DateTimeField(allow_null=True)

    @staticmethod
    def answer(account: ProviderAccount | None) -> dict:
        if account is None:
            values = {"provider": None, "account_sid": None, "messaging_service_sid": None,
                      "auth_token_set": False, "updated_at": None}
        else:
            values = {"provider": account.provider,
                      "account_sid": account.account_sid or None,
                      "messaging_service_sid": account.messaging_service_sid or None,
                      "auth_token_set": account.auth_token_set,
                      "updated_at": account.updated_at}
        return ProviderAccountSerializer(values).data


class ProviderAccountInputSerializer(serializers.Serializer):
    provider = serializers.ChoiceField(choices=ProviderKind.choices)
    account_sid = serializers.RegexField(
        ACCOUNT_SID_PATTERN, required=False,
        error_messages={"invalid": "An Account SID is AC followed by 32 hexadecimal characters."})
    # Printable ASCII only: the token goes into an HTTP Basic header, which cannot carry more.
    auth_token = serializers.RegexField(r"^[!-~]*\Z", required=False, allow_blank=True,
                                       max_length=128, write_only=True, trim_whitespace=True,
                                       error_messages={"invalid": "An Auth Token is printable "
                                                                  "ASCII characters."},
                                       help_text="Write-only. Omit to keep the stored token "
                                                 "(same Account SID only).")
    messaging_service_sid = serializers.RegexField(
        MESSAGING_SERVICE_SID_PATTERN, required=False, allow_blank=True, allow_null=True,
        error_messages={"invalid": "A Messaging Service SID is MG followed by 32 hexadecimal "
                                   "characters."})

    def validate(self, attrs: dict) -> dict:
        if attrs["provider"] == ProviderKind.TWILIO and not attrs.get("account_sid"):
            raise serializers.ValidationError(
                {"account_sid": ["This field is required for Twilio."]}, code="required")
        attrs["messaging_service_sid"] = attrs.get("messaging_service_sid") or ""
        return attrs


class AccountInfoSerializer(serializers.Serializer):
    sid = serializers.CharField(source="account_sid")
    friendly_name = serializers.CharField()
    status = serializers.CharField()


class ProviderTestSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    account = AccountInfoSerializer()


class CapabilitiesSerializer(serializers.Serializer):
    sms = serializers.BooleanField()
    mms = serializers.BooleanField()
    voice = serializers.BooleanField()


class PhoneNumberSerializer(serializers.ModelSerializer):
    capabilities = CapabilitiesSerializer(read_only=True)
    number_type = serializers.ChoiceField(choices=NumberType.choices, read_only=True)
    send_rate = serializers.FloatField(
        source="effective_send_rate", read_only=True,
        help_text="Messages per second the workers send from this number: its own setting, or "
                  "the default for its type (long code 1, toll-free 3, short code 100).")

    class Meta:
        model = PhoneNumber
        fields = ["id", "phone_number", "friendly_name", "capabilities", "is_default",
                  "number_type", "send_rate", "created_at"]
        read_only_fields = fields


class PhoneNumberInputSerializer(serializers.Serializer):
    phone_number = E164Field(help_text="E.164, for example +14155552671.")
    friendly_name = serializers.CharField(max_length=64, required=False, allow_blank=True,
                                          default="")


class PhoneNumberUpdateSerializer(serializers.Serializer):
    friendly_name = serializers.CharField(max_length=64, required=False, allow_blank=True)
    is_default = serializers.BooleanField(required=False)
    send_rate = serializers.FloatField(required=False, allow_null=True, min_value=0.01,
                                       max_value=10_000,
                                       help_text="Messages per second; null for the type's default.")


class SkippedNumberSerializer(serializers.Serializer):
    phone_number = serializers.CharField()
    reason = serializers.ChoiceField(
        choices=["number_unavailable", "already_in_workspace", "invalid_phone_number"])


class NumbersImportSerializer(serializers.Serializer):
    data = PhoneNumberSerializer(many=True)
    skipped = SkippedNumberSerializer(many=True)


class IntegratorWorkspaceSerializer(serializers.Serializer):
    """GET /api/workspace: the key's workspace and its sending settings, never a secret."""

    id = serializers.CharField()
    name = serializers.CharField()
    created_at = serializers.DateTimeField()
    account_sid = serializers.CharField(help_text="The AccountSid of the Twilio-compatible API.")
    provider = ProviderAccountSerializer()
    default_number = serializers.CharField(allow_null=True)
    rate_limit = serializers.CharField(help_text="Requests allowed per API key, e.g. 100/m")
