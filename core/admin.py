"""Admin for tenants, people and their roles, API keys and personal tokens."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.template.response import TemplateResponse
from django.templatetags.static import static
from django.urls import reverse
from django.utils.html import format_html

from core import services
from core.admin_scoping import (
    TenantScopedAdmin,
    TenantScopedForm,
    TenantScopedMixin,
    TenantScopedTabularInline,
)
from core.chat_identity import identity_secret_new, identity_secret_remove
from core.chat_look import chat_look
from core.limits import size_text
from core.models import (
    ApiKey,
    BusinessHours,
    FileUsage,
    Holiday,
    PersonalToken,
    Role,
    Tenant,
)
from core.scoping import (
    managed_tenant,
    membership_of,
)

User = get_user_model()

admin.site.site_header = "Support back office"
admin.site.site_title = "Support back office"
admin.site.index_title = "Configuration"


class BusinessHoursInline(TenantScopedTabularInline):
    model = BusinessHours
    extra = 0


class HolidayInline(TenantScopedTabularInline):
    model = Holiday
    extra = 0


class TenantForm(TenantScopedForm):
    identity_secret = forms.ChoiceField(
        label="signed-in visitors",
        required=False,
        initial="keep",
        choices=[
            ("keep", "Keep as it is"),
            ("new", "Make a new identity secret (shown once; the old one stops working)"),
            ("remove", "Remove the secret: trust no website's identity"),
        ],
        help_text="Your website may say who its signed-in visitor is, so the chat starts as "
        "that customer (their id, name, e-mail address) and your team sees them verified. "
        "Your server signs it with this secret (a JSON Web Token, HS256, with sub and exp); "
        "a token that does not check out is refused.",
    )

    class Meta:
        model = Tenant
        exclude: list[str] = []  # the admin's fieldsets say which

    def clean(self):
        cleaned = super().clean()
        wanted = cleaned.get("identity_secret")
        has_secret = bool(self.instance.chat_identity_secret) and wanted != "remove"
        if cleaned.get("chat_signed_in_only") and not (has_secret or wanted == "new"):
            self.add_error(
                "chat_signed_in_only",
                "Only signed-in visitors could chat, and none can be signed in without an "
                "identity secret: make one too.",
            )
        return cleaned


@admin.register(Tenant)
class TenantAdmin(TenantScopedAdmin):
    form = TenantForm
    list_display = ["name", "slug", "time_zone", "currency", "created_at"]
    search_fields = ["name", "slug"]
    inlines = [BusinessHoursInline, HolidayInline]
    fieldsets = [
        (None, {"fields": ["name", "slug", "time_zone", "currency"]}),
        ("Approvals", {"fields": ["approval_timeout"]}),
        (
            "The chat on your website",
            {
                "fields": [
                    "chat_website_origins",
                    "chat_color",
                    "chat_greeting",
                    "chat_intro",
                    "chat_reply_time",
                    "chat_ask_email",
                    "chat_snippet",
                    "chat_identity",
                    "identity_secret",
                    "chat_signed_in_only",
                ]
            },
        ),
        ("Conversations with people", {"fields": ["assign_queue", "resolve_quiet_after"]}),
        ("Files", {"fields": ["file_retention_days", "files_limit_mb", "files_stored"]}),
        ("How long conversations are kept", {"fields": ["conversation_retention_days"]}),
    ]

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "chat_website_origins":
            kwargs["widget"] = forms.Textarea(attrs={"rows": 3, "cols": 60})
        if db_field.name == "chat_color":
            kwargs["widget"] = forms.TextInput(attrs={"type": "color"})
        if db_field.name == "chat_intro":
            kwargs["widget"] = forms.Textarea(attrs={"rows": 2, "cols": 60})
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        shown = ["files_stored", "chat_snippet", "chat_identity"]
        # the storage limit is the server operator's, never a tenant's to raise
        return shown if request.user.is_superuser else ["slug", "files_limit_mb", *shown]

    @admin.display(description="files stored")
    def files_stored(self, obj) -> str:
        """What the tenant's files take, against its limit (conversations/file_quota.py)."""
        if obj is None or not obj.pk:
            return "-"
        used = FileUsage.objects.filter(tenant=obj).values_list("bytes", flat=True).first() or 0
        limit = obj.files_limit_bytes
        share = f" ({used * 100 // limit}%)" if limit else ""
        return f"{size_text(used)} of {size_text(limit)}{share}"

    @admin.display(description="chat on your website")
    def chat_snippet(self, obj) -> str:
        """The tag a tenant's website adds to show the chat (static/handover/embed.js)."""
        if obj is None or not obj.pk:
            return "Save the tenant first."
        src = f"{settings.SITE_URL}{static('handover/embed.js')}"
        chat = f"{settings.SITE_URL}{reverse('chat', args=[obj.slug])}"
        return format_html(
            "<code>{}</code><br>Add this tag to your website's pages (before &lt;/body&gt;) "
            "and list the website above: a chat button appears in the corner. "
            '<a href="{}">Try it on a sample page</a>; the chat alone: <a href="{}">{}</a>',
            f'<script src="{src}" data-tenant="{obj.slug}" '
            f'data-color="{chat_look(obj).color}" async></script>',
            reverse("chat-preview", args=[obj.slug]),
            chat,
            chat,
        )

    @admin.display(description="identity secret")
    def chat_identity(self, obj) -> str:
        """Whether the chat trusts signed-in visitors, and since when (the secret is never
        shown again)."""
        if obj is None or not obj.chat_identity_secret:
            return "None: every visitor of the chat is anonymous."
        made = obj.chat_identity_since
        return f"Made {made:%Y-%m-%d %H:%M} UTC; shown once then." if made else "Set."

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        wanted = form.cleaned_data.get("identity_secret")
        if wanted == "new":
            obj._raw_identity_secret = identity_secret_new(obj)
        elif wanted == "remove" and obj.chat_identity_secret:  # the form kept signed-in-only off
            identity_secret_remove(obj)
            self.message_user(
                request, "The identity secret is removed: every visitor is anonymous now."
            )

    def response_change(self, request, obj):
        raw = getattr(obj, "_raw_identity_secret", None)
        if raw is None:
            return super().response_change(request, obj)
        return TemplateResponse(
            request,
            "admin/core/chat_identity_secret.html",
            {
                **admin.site.each_context(request),
                "title": "The chat's identity secret",
                "object": obj,
                "raw": raw,
            },
        )

    def has_add_permission(self, request, *args) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser


def _show_secret_once(request, obj, raw: str, what: str, changelist_url: str):
    return TemplateResponse(
        request,
        "admin/core/secret_created.html",
        {
            **admin.site.each_context(request),
            "title": f"{what} created",
            "object": obj,
            "raw": raw,
            "what": what,
            "changelist_url": changelist_url,
        },
    )


@admin.register(ApiKey)
class ApiKeyAdmin(TenantScopedAdmin):
    list_display = ["name", "prefix", "tenant", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "prefix"]
    actions = ["revoke"]

    def get_fields(self, request, obj=None):
        fields = ["name"] if not request.user.is_superuser or obj else ["tenant", "name"]
        if obj is not None:
            fields += ["prefix", "created_by", "created_at", "last_used_at", "revoked_at"]
        return fields

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["prefix", "created_by", "created_at", "last_used_at", "revoked_at"]

    def save_model(self, request, obj, form, change):
        if change:
            obj.save(update_fields=["name"])
            return
        tenant = obj.tenant if request.user.is_superuser else managed_tenant(request.user)
        assert tenant is not None  # the admin lets in only superusers and managers of a tenant
        api_key, raw = services.api_key_create(
            tenant=tenant, name=obj.name, created_by=request.user
        )
        obj.pk, obj._raw_key = api_key.pk, raw

    def response_add(self, request, obj, post_url_continue=None):
        return _show_secret_once(
            request, obj, obj._raw_key, "API key", "admin:core_apikey_changelist"
        )

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # keys are revoked, never deleted, so their use stays traceable

    @admin.action(description="Revoke selected keys")
    def revoke(self, request, queryset):
        for api_key in queryset:
            services.api_key_revoke(api_key=api_key)
        self.message_user(request, f"Revoked {queryset.count()} key(s).", messages.SUCCESS)


@admin.register(PersonalToken)
class PersonalTokenAdmin(TenantScopedAdmin):
    list_display = ["name", "prefix", "user", "created_at", "last_used_at", "revoked_at"]
    search_fields = ["name", "prefix", "user__username"]
    readonly_fields = ("name", "prefix", "user", "created_at", "last_used_at", "revoked_at")
    fields = readonly_fields
    actions = ["revoke"]

    def has_add_permission(self, request, *args) -> bool:
        return False  # people make their own tokens at /accounts/tokens/

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset):
        for token in queryset:
            services.personal_token_revoke(token=token)
        self.message_user(request, f"Revoked {queryset.count()} token(s).", messages.SUCCESS)


# --- People -----------------------------------------------------------------------------------


class RolesFormMixin(forms.Form):
    """Adds the person's tenant (superusers only) and roles to Django's user forms."""

    tenant = forms.ModelChoiceField(queryset=Tenant.objects.all(), required=False)
    roles = forms.MultipleChoiceField(
        choices=Role.choices, widget=forms.CheckboxSelectMultiple, required=False
    )
    manager_tenant: Tenant | None = None
    instance: Any  # the user of the Django user form it is mixed into

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        membership = membership_of(self.instance) if self.instance.pk else None
        if membership is not None:
            self.fields["tenant"].initial = membership.tenant
            self.fields["roles"].initial = membership.roles
        if self.manager_tenant is not None:
            del self.fields["tenant"]

    def clean(self):
        cleaned = super().clean() or self.cleaned_data  # it is cleaned_data; typed Optional
        if self.manager_tenant is None and cleaned.get("roles") and not cleaned.get("tenant"):
            self.add_error("tenant", "Choose the tenant in which these roles are held.")
        return cleaned

    def target_tenant(self) -> Tenant | None:
        return self.manager_tenant or self.cleaned_data.get("tenant")


class PersonCreationForm(RolesFormMixin, AdminUserCreationForm):
    pass


class PersonChangeForm(RolesFormMixin, UserChangeForm):
    pass


admin.site.unregister(User)


@admin.register(User)
class PersonAdmin(TenantScopedMixin, DjangoUserAdmin):
    """Managers add and change the people of their tenant and their roles; only superusers
    see superuser, staff and permission fields."""

    form = PersonChangeForm
    add_form = PersonCreationForm
    list_display = ["username", "email", "first_name", "last_name", "tenant_name", "role_list"]
    list_select_related = ["membership__tenant"]

    @admin.display(description="tenant")
    def tenant_name(self, user) -> str:
        membership = getattr(user, "membership", None)
        return membership.tenant.name if membership else "—"

    @admin.display(description="roles")
    def role_list(self, user) -> str:
        membership = getattr(user, "membership", None)
        return ", ".join(membership.roles) if membership else "—"

    def get_list_filter(self, request):
        if request.user.is_superuser:
            return ["membership__tenant", "is_superuser", "is_active"]
        return ["membership__is_manager", "membership__is_agent", "membership__is_approver"]

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            fields = ["username", "usable_password", "password1", "password2", "roles"]
            if request.user.is_superuser:
                fields.insert(-1, "tenant")
            return [(None, {"classes": ["wide"], "fields": fields})]
        people = [
            (None, {"fields": ["username", "password"]}),
            ("Personal info", {"fields": ["first_name", "last_name", "email"]}),
        ]
        if request.user.is_superuser:
            return [
                *people,
                ("Tenant and roles", {"fields": ["tenant", "roles"]}),
                ("Permissions", {"fields": ["is_active", "is_superuser", "user_permissions"]}),
                ("Important dates", {"fields": ["last_login", "date_joined"]}),
            ]
        return [
            *people,
            ("Roles", {"fields": ["roles", "is_active"]}),
            ("Important dates", {"fields": ["last_login", "date_joined"]}),
        ]

    def get_readonly_fields(self, request, obj=None):
        return ["last_login", "date_joined"] if obj else []

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"manager_tenant": self._manager_tenant(request)})

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            from django.http import Http404

            raise Http404(f"No person with ID {object_id!r}.")
        return obj

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        tenant = form.target_tenant()
        if tenant is not None:
            services.membership_set(
                user=obj, tenant=tenant, roles=form.cleaned_data.get("roles", [])
            )
        if change and "is_active" in form.changed_data:
            # deactivated: their sessions end and their sockets close
            services.person_set_active(user=obj, active=obj.is_active)

    def delete_model(self, request, obj):
        services.person_delete(user=obj)

    def delete_queryset(self, request, queryset):
        for person in queryset:
            services.person_delete(user=person)

    @admin.action(description="Sign out everywhere (end their sessions, close their sockets)")
    def sign_out_everywhere(self, request, queryset):
        for person in queryset:
            services.person_sign_out_everywhere(user=person)
        self.message_user(
            request, f"Signed {queryset.count()} person(s) out everywhere.", messages.SUCCESS
        )

    actions = ["sign_out_everywhere"]


from core import webhooks_admin  # noqa: E402,F401  (registers the webhooks' admin)
