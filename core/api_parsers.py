"""The API's body parser: JSON only, at most ``API_MAX_BODY_BYTES`` (413 past it), read through
the one JSON door (``core.json_input``: strict, nesting bounded, no NUL or lone
surrogate in any key or string).

Kept apart from ``api_errors`` because DRF imports parsers while its views module loads."""

from __future__ import annotations

from django.conf import settings
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import JSONParser, MultiPartParser

from core.json_input import (
    JsonRefused,
    loads,
)


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


class LimitedJSONParser(JSONParser):
    """JSON only, at most ``API_MAX_BODY_BYTES``, strict (no NaN or Infinity)."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.API_MAX_BODY_BYTES
        request = (parser_context or {}).get("request")
        declared = request.META.get("CONTENT_LENGTH") if request is not None else None
        if declared and str(declared).isdigit() and int(declared) > limit:
            raise PayloadTooLarge(f"The request body is over the limit of {limit} bytes.")
        raw = stream.read(limit + 1)
        if len(raw) > limit:
            raise PayloadTooLarge(f"The request body is over the limit of {limit} bytes.")
        try:
            return loads(raw)
        except JsonRefused as exc:
            if exc.path:  # a value PostgreSQL cannot store: a 400 naming the field
                raise exceptions.ValidationError({exc.path: [exc.reason]}) from None
            raise exceptions.ParseError(f"The body is not acceptable JSON: {exc.reason}.") from None


FILE_FORM_OVERHEAD = 64 * 1024  # a file's form: its other fields and multipart boundaries


class FileFormParser(MultiPartParser):
    """A file's multipart form (``.../files``): refused by its Content-Length before anything
    is read when it is larger than ``ATTACHMENT_MAX_BYTES`` (and its form's overhead)."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.ATTACHMENT_MAX_BYTES + FILE_FORM_OVERHEAD
        request = (parser_context or {}).get("request")
        declared = request.META.get("CONTENT_LENGTH") if request is not None else None
        if declared and str(declared).isdigit() and int(declared) > limit:
            raise PayloadTooLarge(
                f"The file is over the limit of {settings.ATTACHMENT_MAX_BYTES} bytes."
            )
        return super().parse(stream, media_type, parser_context)


# A file's form as the schema tells it (``.../files``): one file, and the words sent with it.
FILE_FORM = {
    "multipart/form-data": {
        "type": "object",
        "properties": {
            "file": {"type": "string", "format": "binary"},
            "text": {"type": "string", "description": "Words sent with the file."},
        },
        "required": ["file"],
    }
}


def one_file(request):
    """The form's one ``file``; a 400 naming ``file`` when it holds none or several."""
    uploads = request.FILES.getlist("file")
    if len(uploads) != 1:
        raise serializers.ValidationError({"file": ["send exactly one file"]})
    return uploads[0]
