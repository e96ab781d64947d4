import base64
import binascii

from rest_framework import serializers

from messaging_platform.api.fields import StrictCharField, StrictChoiceField, StrictRegexField

from .models import NumberType, PhoneNumber, ProviderAccount, ProviderKind
from .phone import MAX_RAW_LENGTH, InvalidPhoneNumber, is_sender_id, normalize_e164

ACCOUNT_SID_PATTERN = r"^AC[0-9a-fA-F]{32}$"
MESSAGING_SERVICE_SID_PATTERN = r"^MG[0-9a-fA-F]{32}$"


class E164Field(serializers.CharField):
    """A serializer field that answers the normalised E.164 string, or a 400 invalid_phone_number."""

    def __init__(self, *, default_region: str | None = None, **kwargs):
        self.default_region = default_region
        kwargs.setdefault("max_length", MAX_RAW_LENGTH)
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> str:
        if not isinstance(data, str):
            raise InvalidPhoneNumber("A phone number must be a string in E.164 form.", field=self.field_name)
        return normalize_e164(data, self.default_region, field=self.field_name)


class SenderField(E164Field):
    """A sender: an E.164 number (normalised), or an alphanumeric sender id as given (whether the
    carrier account allows one is the service's check)."""

    def to_internal_value(self, data) -> str:
        if isinstance(data, str) and is_sender_id(data.strip()):
            return data.strip()
        return super().to_internal_value(data)


class ProviderAccountSerializer(serializers.Serializer):
    """The carrier account as the API shows it: never a secret, only whether one is set."""

    provider = serializers.ChoiceField(choices=ProviderKind.choices, allow_null=True)
    account_sid = serializers.CharField(allow_null=True)
    messaging_service_sid = serializers.CharField(allow_null=True)
    auth_token_set = serializers.BooleanField(
        help_text="Whether the account's secret is stored (Twilio's Auth Token, Telnyx's API key)."
    )
    settings = serializers.DictField(
        help_text="The carrier's non-secret settings (Telnyx: public_key, messaging_profile_id)."
    )
    updated_at = serializers.DateTimeField(allow_null=True)

    @staticmethod
    def answer(account: ProviderAccount | None) -> dict:
        if account is None:
            values = {
                "provider": None,
                "account_sid": None,
                "messaging_service_sid": None,
                "auth_token_set": False,
                "settings": {},
                "updated_at": None,
            }
        else:
            values = {
                "provider": account.provider,
                "account_sid": account.account_sid or None,
                "messaging_service_sid": account.messaging_service_sid or None,
                "auth_token_set": account.auth_token_set,
                "settings": account.settings or {},
                "updated_at": account.updated_at,
            }
        data = ProviderAccountSerializer(values).data
        if account is not None and account.provider == ProviderKind.SMPP:
            data["smpp"] = SmppSettingsSerializer.answer(account)
        return data


class SmppSettingsSerializer(serializers.Serializer):
    """An SMPP account's settings; the password is write-only (`password_set` says whether one is)."""

    host = serializers.CharField()
    port = serializers.IntegerField()
    system_id = serializers.CharField()
    system_type = serializers.CharField()
    tls = serializers.BooleanField()
    throughput = serializers.FloatField(allow_null=True)
    uncertain_submits = serializers.CharField()
    senders = serializers.ListField(child=serializers.CharField())
    password_set = serializers.BooleanField()

    @staticmethod
    def answer(account: ProviderAccount) -> dict:
        values = account.settings or {}
        return SmppSettingsSerializer(
            {
                "host": values.get("host", ""),
                "port": values.get("port", 2775),
                "system_id": values.get("system_id", ""),
                "system_type": values.get("system_type", ""),
                "tls": bool(values.get("tls")),
                "throughput": values.get("throughput"),
                "uncertain_submits": values.get("uncertain_submits", "resend"),
                "senders": values.get("senders", []),
                "password_set": bool(account.auth_token),
            }
        ).data


# SMPP 3.4 limits (section 4.1): system_id 16, password 9, system_type 13 octets with the NUL.
SMPP_PRINTABLE = r"^[ -~]*\Z"


class ProviderAccountInputSerializer(serializers.Serializer):
    provider = StrictChoiceField(choices=ProviderKind.choices)
    account_sid = StrictRegexField(
        ACCOUNT_SID_PATTERN,
        required=False,
        error_messages={"invalid": "An Account SID is AC followed by 32 hexadecimal characters."},
    )
    # Printable ASCII only: the token goes into an HTTP Basic header, which cannot carry more.
    auth_token = StrictRegexField(
        r"^[!-~]*\Z",
        required=False,
        allow_blank=True,
        max_length=128,
        write_only=True,
        trim_whitespace=True,
        error_messages={"invalid": "An Auth Token is printable ASCII characters."},
        help_text="Write-only. Omit to keep the stored token (same Account SID only).",
    )
    messaging_service_sid = StrictRegexField(
        MESSAGING_SERVICE_SID_PATTERN,
        required=False,
        allow_blank=True,
        allow_null=True,
        error_messages={"invalid": "A Messaging Service SID is MG followed by 32 hexadecimal characters."},
    )

    # Telnyx: the API key (write-only secret), the account's public key (base64, for webhook
    # signatures) and the messaging profile that receives the numbers' messages.
    api_key = StrictRegexField(
        r"^[!-~]*\Z",
        required=False,
        allow_blank=True,
        max_length=256,
        write_only=True,
        trim_whitespace=True,
        error_messages={"invalid": "An API key is printable ASCII."},
        help_text="Telnyx only. Write-only; omit to keep the stored key.",
    )
    public_key = StrictCharField(
        required=False,
        max_length=64,
        trim_whitespace=True,
        help_text="Telnyx only: the account's Ed25519 public key.",
    )
    messaging_profile_id = StrictRegexField(
        r"^[0-9A-Za-z-]{1,64}\Z",
        required=False,
        allow_blank=True,
        error_messages={"invalid": "A messaging profile id is a UUID."},
    )
    # SMPP (provider "smpp")
    host = StrictRegexField(
        r"^[A-Za-z0-9.:\-\[\]]{1,253}\Z",
        required=False,
        error_messages={"invalid": "A host name or an IP address."},
    )
    port = serializers.IntegerField(required=False, min_value=1, max_value=65535)
    system_id = StrictRegexField(SMPP_PRINTABLE, required=False, max_length=15)
    password = StrictRegexField(
        SMPP_PRINTABLE,
        required=False,
        allow_blank=True,
        max_length=8,
        write_only=True,
        trim_whitespace=False,
        help_text="Write-only. Omit to keep the stored password (same host and system_id only).",
    )
    system_type = StrictRegexField(SMPP_PRINTABLE, required=False, allow_blank=True, max_length=12)
    tls = serializers.BooleanField(required=False)
    throughput = serializers.FloatField(
        required=False,
        allow_null=True,
        min_value=0.1,
        max_value=10_000,
        help_text="submit_sm per second on the bind (null: no limit).",
    )
    uncertain_submits = StrictChoiceField(
        choices=["resend", "fail"],
        required=False,
        help_text="A submit_sm whose answer was lost: sent again (at least once) or never (at most once).",
    )
    senders = serializers.ListField(
        child=StrictRegexField(r"^(\+[1-9][0-9]{5,14}|[0-9]{3,8}|[A-Za-z0-9 ]{1,11})\Z"),
        required=False,
        max_length=100,
        help_text="Numbers (E.164), short codes or alphanumeric sender ids the SMSC allows.",
    )

    def validate(self, attrs: dict) -> dict:
        if attrs["provider"] == ProviderKind.SMPP:
            missing = {
                name: ["This field is required for SMPP."]
                for name in ("host", "system_id")
                if not attrs.get(name)
            }
            if missing:
                raise serializers.ValidationError(missing, code="required")
            return attrs
        if attrs["provider"] == ProviderKind.TWILIO and not attrs.get("account_sid"):
            raise serializers.ValidationError(
                {"account_sid": ["This field is required for Twilio."]}, code="required"
            )
        attrs["messaging_service_sid"] = attrs.get("messaging_service_sid") or ""
        api_key = attrs.pop("api_key", None)
        public_key = attrs.pop("public_key", None)
        profile = attrs.pop("messaging_profile_id", None) or ""
        if attrs["provider"] == ProviderKind.TELNYX:
            if not public_key:
                raise serializers.ValidationError(
                    {"public_key": ["This field is required for Telnyx."]}, code="required"
                )
            try:
                if len(base64.b64decode(public_key, validate=True)) != 32:
                    raise ValueError
            except (ValueError, binascii.Error):
                raise serializers.ValidationError(
                    {"public_key": ["An Ed25519 public key is 32 bytes in base64."]}, code="invalid"
                ) from None
            attrs["auth_token"] = api_key
            attrs["settings"] = {"public_key": public_key, "messaging_profile_id": profile}
        return attrs


class CarrierAccountSerializer(serializers.Serializer):
    """One carrier account: its non-secret settings, and only whether each secret is set."""

    id = serializers.CharField(source="uid")
    provider = serializers.ChoiceField(choices=ProviderKind.choices)
    name = serializers.CharField()
    is_primary = serializers.BooleanField()
    status = serializers.CharField()
    settings = serializers.SerializerMethodField()
    secrets_set = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_settings(self, account: ProviderAccount) -> dict:
        values = dict(account.settings or {})
        if account.account_sid:
            values["account_sid"] = account.account_sid
        if account.messaging_service_sid:
            values["messaging_service_sid"] = account.messaging_service_sid
        return values

    def get_secrets_set(self, account: ProviderAccount) -> dict:
        if account.provider == ProviderKind.SIMULATOR:
            return {}
        secret = {ProviderKind.TELNYX: "api_key", ProviderKind.SMPP: "password"}.get(
            account.provider, "auth_token"
        )
        return {secret: account.auth_token_set}


class CarrierAccountInputSerializer(ProviderAccountInputSerializer):
    name = StrictCharField(max_length=64, required=False, allow_blank=True, default="")


class CarrierAccountUpdateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=64, required=False, allow_blank=True)
    status = StrictChoiceField(choices=["active", "disabled"], required=False)
    is_primary = serializers.BooleanField(required=False)
    account_sid = StrictRegexField(ACCOUNT_SID_PATTERN, required=False)
    auth_token = StrictRegexField(
        r"^[!-~]*\Z", required=False, allow_blank=True, max_length=128, write_only=True
    )
    api_key = StrictRegexField(
        r"^[!-~]*\Z", required=False, allow_blank=True, max_length=256, write_only=True
    )
    messaging_service_sid = StrictRegexField(MESSAGING_SERVICE_SID_PATTERN, required=False, allow_blank=True)


class CarrierRouteSerializer(serializers.Serializer):
    id = serializers.CharField()
    position = serializers.IntegerField()
    prefix = serializers.CharField()
    account_id = serializers.CharField(source="account.uid")
    sender = serializers.CharField(source="sender.phone_number", allow_null=True, default=None)
    sender_id = serializers.CharField(allow_null=True)
    fallback_account_id = serializers.CharField(source="fallback_account.uid", allow_null=True, default=None)
    created_at = serializers.DateTimeField()


class CarrierRouteInputSerializer(serializers.Serializer):
    prefix = StrictCharField(
        max_length=16, required=False, help_text="+ and digits: destinations starting with it."
    )
    position = serializers.IntegerField(min_value=0, max_value=10_000, required=False)
    account_id = StrictCharField(max_length=32, required=False)
    sender_id = StrictCharField(max_length=32, required=False, allow_null=True)
    fallback_account_id = StrictCharField(max_length=32, required=False, allow_null=True)


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
        source="effective_send_rate",
        read_only=True,
        help_text="Messages per second the workers send from this number: its own setting, or "
        "the default for its type (long code 1, toll-free 3, short code 100).",
    )

    account_id = serializers.CharField(
        source="account.uid",
        allow_null=True,
        default=None,
        read_only=True,
        help_text="Its carrier account (ca_…); null: the primary.",
    )

    class Meta:
        model = PhoneNumber
        fields = [
            "id",
            "phone_number",
            "friendly_name",
            "capabilities",
            "is_default",
            "number_type",
            "send_rate",
            "account_id",
            "created_at",
        ]
        read_only_fields = fields


class PhoneNumberInputSerializer(serializers.Serializer):
    phone_number = SenderField(
        help_text="E.164, for example +14155552671; on an account whose "
        "carrier allows it (SMPP), an alphanumeric sender id "
        "of up to 11 characters, for example ACME."
    )
    account_id = StrictCharField(
        max_length=32,
        required=False,
        help_text="The carrier account (ca_…) the number belongs to; default: the primary account.",
    )
    friendly_name = StrictCharField(max_length=64, required=False, allow_blank=True, default="")


class PhoneNumberUpdateSerializer(serializers.Serializer):
    friendly_name = StrictCharField(max_length=64, required=False, allow_blank=True)
    is_default = serializers.BooleanField(required=False)
    send_rate = serializers.FloatField(
        required=False,
        allow_null=True,
        min_value=0.01,
        max_value=10_000,
        help_text="Messages per second; null for the type's default.",
    )


class SkippedNumberSerializer(serializers.Serializer):
    phone_number = serializers.CharField()
    reason = serializers.ChoiceField(
        choices=["number_unavailable", "already_in_workspace", "invalid_phone_number"]
    )


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
