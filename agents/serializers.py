"""The agents' nested documents as DRF serializers, shared by the API and the stack templates'
import (one validation for both)."""

from __future__ import annotations

from rest_framework import serializers

from agents.action_registry import ParamsError, get_action
from agents.models.agents import knowledge_outputs_problem


class WholeObjectSerializer(serializers.Serializer):
    """A nested object that a PATCH replaces whole: its required fields stay required even when
    the outer serializer is partial (DRF skips them there otherwise)."""

    def to_internal_value(self, data):
        if getattr(self.root, "partial", False) and isinstance(data, dict):
            missing = {
                name: [field.error_messages["required"]]
                for name, field in self.fields.items()
                if field.required and not field.read_only and name not in data
            }
            if missing:
                raise serializers.ValidationError(missing)
        return super().to_internal_value(data)


class ActionSerializer(WholeObjectSerializer):
    name = serializers.CharField()
    params = serializers.DictField(required=False, default=dict)

    def validate(self, data):
        spec = get_action(data["name"])
        if spec is None:
            raise serializers.ValidationError({"name": f"unknown action '{data['name']}'"})
        try:
            spec.validate_params(data["params"])
        except ParamsError as exc:
            raise serializers.ValidationError(
                {"params": {k: [v] for k, v in exc.errors.items()}}
            ) from None
        return data


class KnowledgeSerializer(WholeObjectSerializer):
    question = serializers.CharField(max_length=500)
    keywords = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False, default=list, max_length=50
    )
    answer = serializers.CharField(max_length=10_000)
    action = ActionSerializer(required=False, allow_null=True)
    outputs = serializers.JSONField(
        required=False,
        default=dict,
        help_text='Workflow outputs this answer sets, e.g. {"priority": "critical"}.',
    )

    def validate_outputs(self, value):
        problem = knowledge_outputs_problem(value)
        if problem:
            raise serializers.ValidationError(problem)
        return value
