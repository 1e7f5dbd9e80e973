from rest_framework import serializers


class KpiPartSerializer(serializers.Serializer):
    label = serializers.CharField()
    count = serializers.IntegerField()


class KpiDrillSerializer(serializers.Serializer):
    label = serializers.CharField(help_text="What the list shows.")
    count = serializers.IntegerField(help_text="How many rows the list has.")
    url = serializers.CharField(help_text="The list page, filtered to exactly those rows.")


class KpiPointSerializer(serializers.Serializer):
    start = serializers.DateField(help_text="First day of the period (UTC).")
    end = serializers.DateField(help_text="First day after the period (UTC).")
    label = serializers.CharField()
    value = serializers.FloatField(allow_null=True, help_text="null when nothing was counted.")
    numerator = serializers.IntegerField(allow_null=True)
    denominator = serializers.IntegerField(allow_null=True)
    samples = serializers.IntegerField(
        allow_null=True, help_text="Median KPIs: how many durations the median is taken over."
    )
    parts = KpiPartSerializer(many=True)
    drill_downs = KpiDrillSerializer(many=True)


class KpiSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    group = serializers.CharField(help_text="Process, Discipline or Delivery.")
    unit = serializers.ChoiceField(choices=["percent", "count", "per_day", "minutes", "hours"])
    better = serializers.ChoiceField(choices=["lower", "higher"])
    definition = serializers.CharField(help_text="What counts.")
    counted_by = serializers.CharField(help_text="Which time puts a record in a period.")
    period = serializers.CharField()
    current = KpiPointSerializer(help_text="The period holding `to` (today by default), so far.")
    target = serializers.FloatField(allow_null=True)
    status = serializers.ChoiceField(
        choices=["met", "missed", "none"], help_text="The current value against the target."
    )


class KpiSeriesSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    unit = serializers.CharField()
    period = serializers.CharField()
    target = serializers.FloatField(allow_null=True)
    points = KpiPointSerializer(many=True)
