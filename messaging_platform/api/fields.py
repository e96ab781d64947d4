"""Serializer fields that take JSON strings (and whole numbers) only.

DRF's string fields turn a JSON number into its text (`{"body": 42}` stored "42", a huge float
"inf", `true` "True"); the API refuses anything but a string where it documents a string. Every
input serializer of the API uses these in place of DRF's own.
"""

from rest_framework import serializers

NOT_A_STRING = "Must be a string."


class StringOnly:
    """Put before a DRF field class: a value that is not a JSON string is refused."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            raise serializers.ValidationError(NOT_A_STRING, code="invalid")
        return super().to_internal_value(data)


class StrictCharField(StringOnly, serializers.CharField):
    pass


class StrictURLField(StringOnly, serializers.URLField):
    pass


class StrictEmailField(StringOnly, serializers.EmailField):
    pass


class StrictRegexField(StringOnly, serializers.RegexField):
    pass


class StrictChoiceField(StringOnly, serializers.ChoiceField):
    pass


class StrictIntegerField(serializers.IntegerField):
    """A JSON whole number only: no string, float or boolean."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)
