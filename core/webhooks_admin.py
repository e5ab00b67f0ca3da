"""The admin's webhook endpoints and their deliveries (``core.webhooks``,
``orchestration.webhooks``): a manager adds an endpoint (its secret shown once), switches it
off, rotates its secret, sends it a test, and reads every delivery with its outcome (a failed
one sent again by hand). Registered by ``core.admin``."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse

from core.admin_scoping import ReadOnlyMixin, TenantScopedAdmin, TenantScopedForm
from core.errors import Invalid
from core.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint, WebhookEventType
from core.webhooks import EVENT_TYPES, endpoint_health, endpoint_secret_set
from orchestration.webhooks import (
    delivery_send_again,
    endpoint_create,
    endpoint_fields,
    endpoint_room,
    endpoint_test,
    endpoint_update,
)

EVENT_CHOICES = [
    (value, f"{value}: {label}")
    for value, label in WebhookEventType.choices
    if value in EVENT_TYPES
]


class WebhookEndpointForm(TenantScopedForm):
    url = forms.URLField(
        label="URL",
        max_length=500,
        assume_scheme="https",
        help_text="Your system's address for the events, e.g. https://crm.example.com/hooks "
        "(public addresses only).",
    )
    events = forms.MultipleChoiceField(
        choices=EVENT_CHOICES, widget=forms.CheckboxSelectMultiple, help_text="What it hears."
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "description", "events", "active"]

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        tenant = cleaned.get("tenant") or getattr(self.instance, "tenant", None)
        try:
            cleaned.update(
                endpoint_fields(
                    cleaned.get("url"), cleaned.get("events"), cleaned.get("description") or ""
                )
            )
            if self.instance.pk is None and tenant is not None:
                endpoint_room(tenant.pk)
        except Invalid as exc:
            for field, problems in exc.fields.items():
                self.add_error(field if field in self.fields else None, " ".join(problems))
        return cleaned


def _show_secret(request, endpoint: WebhookEndpoint, raw: str):
    return TemplateResponse(
        request,
        "admin/core/webhook_secret.html",
        {
            **admin.site.each_context(request),
            "title": "Webhook endpoint: its signing secret",
            "object": endpoint,
            "raw": raw,
        },
    )


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(TenantScopedAdmin):
    """Where the tenant's events go; the secret is shown once, when made or rotated."""

    form = WebhookEndpointForm
    list_display = ["__str__", "url", "shown_events", "active", "health", "created_at"]
    list_filter = ["active"]
    actions = ["send_test", "rotate_secret"]
    readonly_fields = ["health"]

    def get_fields(self, request, obj=None):
        fields = ["url", "description", "events", "active"] + (["health"] if obj else [])
        return (["tenant"] if obj is None and request.user.is_superuser else []) + fields

    @admin.display(description="health")
    def health(self, endpoint: WebhookEndpoint) -> str:
        return endpoint_health(endpoint)

    @admin.display(description="events")
    def shown_events(self, endpoint: WebhookEndpoint) -> str:
        return ", ".join(endpoint.events)

    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data.get(name) for name in ("url", "events", "description")}
        fields["active"] = bool(form.cleaned_data.get("active"))
        if change:
            endpoint_update(obj, fields)
            return
        made, raw = endpoint_create(tenant_id=obj.tenant_id, **fields)
        obj.__dict__.update(made.__dict__)  # the row the service wrote (its history, its page)
        obj._raw_secret = raw

    def response_add(self, request, obj, post_url_continue=None):
        return _show_secret(request, obj, obj._raw_secret)

    @admin.action(description="Send a test event")
    def send_test(self, request, queryset):
        for endpoint in queryset:
            endpoint_test(endpoint)
        self.message_user(
            request,
            f"A webhook.test event is on its way to {queryset.count()} endpoint(s): "
            "see Webhook deliveries.",
            messages.SUCCESS,
        )

    @admin.action(description="Rotate the signing secret (shown once)")
    def rotate_secret(self, request, queryset):
        endpoints = list(queryset[:2])
        if len(endpoints) != 1:
            self.message_user(request, "Rotate one endpoint at a time.", messages.ERROR)
            return None
        return _show_secret(request, endpoints[0], endpoint_secret_set(endpoints[0]))


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyMixin, TenantScopedAdmin):
    """Every event sent to an endpoint, with its outcome; read-only but for "Send again"."""

    list_display = [
        "created_at",
        "event",
        "endpoint",
        "status",
        "attempts",
        "response_status",
        "last_error",
    ]
    list_filter = ["status", "event"]
    list_select_related = ["endpoint"]
    search_fields = ["message_id"]
    actions = ["send_again"]
    readonly_fields = [
        "endpoint",
        "event",
        "message_id",
        "status",
        "attempts",
        "response_status",
        "last_error",
        "created_at",
        "attempted_at",
        "delivered_at",
        "payload",
    ]

    @admin.action(description="Send again (failed ones)")
    def send_again(self, request, queryset):
        again = sum(
            delivery_send_again(delivery)
            for delivery in queryset.filter(status=DeliveryStatus.FAILED)
        )
        self.message_user(request, f"{again} delivery(ies) pending again.", messages.SUCCESS)
