"""Shared pieces of the REST layer."""

from rest_framework import serializers


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know, naming them, instead of silently ignoring them."""

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError({"non_field_errors": ["Expected a JSON object."]})
        unknown = sorted(set(data) - set(self.fields))
        value = super().to_internal_value(data)
        if unknown:
            raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return value
