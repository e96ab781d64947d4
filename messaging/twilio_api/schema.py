"""The Twilio-compatible API in the OpenAPI schema: its HTTP Basic scheme."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class TwilioBasicScheme(OpenApiAuthenticationExtension):
    target_class = "messaging.twilio_api.auth.TwilioBasicAuthentication"
    name = "twilioBasic"

    def get_security_definition(self, auto_schema) -> dict:
        return {
            "type": "http",
            "scheme": "basic",
            "description": "The workspace's account SID (`AC…`) as the username and one of "
            "its auth tokens or API keys as the password, as Twilio's SDKs "
            "send them. See docs/twilio-compat.md.",
        }
