"""The API's JSON renderer: orjson, same output as DRF's renderer for what the API answers."""

import orjson
from rest_framework.renderers import JSONRenderer
from rest_framework.utils.encoders import JSONEncoder

_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS
_fallback = JSONEncoder().default  # lazy strings, Decimal, querysets: what DRF's encoder knows


class OrjsonRenderer(JSONRenderer):
    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        if self.get_indent(accepted_media_type, renderer_context or {}) is not None:
            return super().render(data, accepted_media_type, renderer_context)
        text = orjson.dumps(data, default=_fallback, option=_OPTIONS)
        # As DRF does: U+2028/U+2029 escaped, so the answer is also valid JavaScript.
        if b"\xe2\x80\xa8" in text or b"\xe2\x80\xa9" in text:
            text = text.replace(b"\xe2\x80\xa8", b"\\u2028").replace(b"\xe2\x80\xa9", b"\\u2029")
        return text
