"""OpenAPI schema post-processing: every API operation documents the errors every API view can
answer (SPEC 6: JSON ``{"error": {"code", "message", "fields"?}}`` with 400/401/403/404/409/
413/429), so a client generated from the schema, or a schema-driven fuzzer, knows them."""

from __future__ import annotations

from rest_framework import serializers

API_ERROR = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {
                    "type": "object",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                },
            },
            "required": ["code", "message"],
        }
    },
    "required": ["error"],
}

COMMON = {
    "400": "Bad request: the message and `fields` name what is wrong.",
    "401": "No valid API key, token or session.",
    "403": "The caller may not do this (a role is missing).",
    "404": "No such object in the caller's tenant.",
    "413": "The body is larger than API_MAX_BODY_BYTES.",
    "429": "Too many requests for this key, token or person (`rate_limited`); see Retry-After.",
}
WRITES = {"409": "The object's state does not allow this now."}


def document_errors(result, generator, request, public):
    """A drf-spectacular postprocessing hook (SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"])."""
    result.setdefault("components", {}).setdefault("schemas", {})["ApiError"] = API_ERROR
    reference = {"application/json": {"schema": {"$ref": "#/components/schemas/ApiError"}}}
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/api/v1/"):
            continue
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            errors = dict(COMMON)
            if method in ("post", "put", "patch", "delete"):
                errors.update(WRITES)
            responses = operation["responses"]
            for status, description in errors.items():
                responses.setdefault(status, {"description": description, "content": reference})
            if "429" in responses:
                responses["429"].setdefault(
                    "headers",
                    {
                        "Retry-After": {
                            "schema": {"type": "integer"},
                            "description": "Seconds until the caller's window ends.",
                        }
                    },
                )
    return result


class ErrorSerializer(serializers.Serializer):
    error = serializers.DictField(
        help_text='{"code", "message", "fields"?}; fields maps paths such as '
        '"steps[1].condition" to messages.'
    )
