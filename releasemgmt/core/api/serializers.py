from rest_framework import serializers

from releasemgmt.core.models import AuditEvent


class AuditEventSerializer(serializers.ModelSerializer):
    object_type = serializers.SerializerMethodField()

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "occurred_at",
            "actor_name",
            "action",
            "object_type",
            "object_id",
            "object_repr",
            "before",
            "after",
            "reason",
        ]
        read_only_fields = fields

    def get_object_type(self, event) -> str | None:
        if event.content_type_id is None:
            return None
        return f"{event.content_type.app_label}.{event.content_type.model}"


class ActionSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()


class MeSerializer(serializers.Serializer):
    username = serializers.CharField()
    full_name = serializers.CharField()
    is_service_account = serializers.BooleanField()
    time_zone = serializers.CharField()
    roles = serializers.ListField(child=serializers.CharField())
    actions = ActionSerializer(many=True)
    authenticated_by = serializers.ChoiceField(choices=["token", "session"])
