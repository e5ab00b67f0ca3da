"""The e-mail channel's inbound endpoint (orchestration/email_inbound.py, README "E-mail").

``POST /email/inbound/<token>``: the mail provider's inbound parse form, signed with the
tenant's secret. 201 taken (``{conversationId, messageId, matchedBy}``); 200 the same mail
again (``duplicate: true``, nothing written) or an automatic mail (an out-of-office, ignored
so two robots never answer each other); 400 a malformed mail (the field and the reason); 401 a
missing, wrong or stale signature; 404 no such address; 413 a post larger than
``MAX_INBOUND_BYTES`` (attachments included); 503 the tenant has no agent."""

from __future__ import annotations

from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from conversations.models import EmailChannel
from core.api_errors import error_body
from core.errors import Invalid
from orchestration.email_inbound import (
    BLOCKED,
    BadForm,
    NoAgent,
    SignatureRefused,
    TooLarge,
    body_read,
    form_read,
    mail_parse,
    mail_take,
    signature_verify,
)


@csrf_exempt  # signed instead: a mail provider has no session
@require_POST
def email_inbound(request: HttpRequest, token: str) -> JsonResponse:
    channel = (
        EmailChannel.objects.select_related("tenant").filter(inbound_token=token).first()
        if token
        else None
    )
    if channel is None:
        raise Http404("No such inbound address.")
    try:
        body = body_read(request)  # read here, not request.body: attachments pass its limit
    except TooLarge as exc:
        return JsonResponse(error_body("payload_too_large", str(exc)), status=413)
    try:
        signature_verify(channel, request.headers, body)
    except SignatureRefused as exc:
        return JsonResponse(error_body("bad_signature", str(exc)), status=401)
    try:
        form, files = form_read(request, body)
    except TooLarge as exc:
        return JsonResponse(error_body("payload_too_large", str(exc)), status=413)
    except BadForm as exc:
        return JsonResponse(error_body("invalid", str(exc)), status=400)
    try:
        return _take(channel, form, files)
    finally:
        for _, uploads in files.lists():
            for upload in uploads:
                upload.close()  # a large one was spooled to a temporary file: gone now


def _take(channel: EmailChannel, form, files) -> JsonResponse:
    try:
        mail = mail_parse(form, files)  # the files: kept where their kind allows (mail_take)
    except Invalid as exc:
        fields = {k: v if isinstance(v, list) else [str(v)] for k, v in exc.fields.items()}
        return JsonResponse(error_body("invalid", "The mail cannot be taken.", fields), status=400)
    if mail.auto_submitted:
        return JsonResponse({"ignored": "an automatic mail (Auto-Submitted)"}, status=200)
    try:
        taken = mail_take(channel, mail)
    except NoAgent:
        return JsonResponse(
            error_body("unavailable", "The tenant has no agent to answer."), status=503
        )
    body_out = {
        "conversationId": taken.conversation_id,
        "messageId": taken.message_id,
        "matchedBy": taken.matched_by,
    }
    if taken.duplicate:
        return JsonResponse({**body_out, "duplicate": True}, status=200)
    if taken.matched_by == BLOCKED:  # the provider must not retry it
        return JsonResponse(
            {**body_out, "ignored": "the sender is blocked by the team"}, status=200
        )
    return JsonResponse(body_out, status=201)
