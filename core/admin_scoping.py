"""The base of every admin class: a manager sees and changes only their tenant's rows.

- lists and objects by URL are narrowed to the manager's tenant (another tenant's object is a
  404, not a redirect that confirms it exists);
- the ``tenant`` field is hidden from managers and set to their tenant before validation, so
  per-tenant unique constraints are checked as form errors, not database errors;
- foreign-key and many-to-many choices list only the tenant's rows, and a chosen row of
  another tenant (a superuser picking across tenants) is a form error;
- superusers see everything, with a tenant filter;
- JSON fields are read through the one JSON door (``core.json_input``), and the date
  drill-down refuses years outside ``core.dates``'s range.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from django import forms
from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db import models
from django.forms.models import BaseInlineFormSet, InlineForeignKeyField
from django.http import Http404

from core.config_version import config_changed
from core.dates import year_in_range
from core.json_input import StrictJSONField
from core.models import Tenant
from core.permissions import admin_allowed
from core.scoping import (
    is_tenant_scoped,
    managed_tenant,
    scope_queryset,
    tenant_lookup,
)


def _scoped_choices(queryset: models.QuerySet, request) -> models.QuerySet:
    if request.user.is_superuser or not is_tenant_scoped(queryset.model):
        return queryset
    return scope_queryset(queryset, managed_tenant(request.user))


def _tenant_of_value(value) -> int | None:
    """The tenant id a related row belongs to, read through its model's tenant lookup."""
    model = type(value)
    lookup = tenant_lookup(model)
    if lookup == "pk":
        return value.pk
    return model._default_manager.filter(pk=value.pk).values_list(lookup, flat=True).first()


class TenantScopedForm(forms.ModelForm):
    """Sets the manager's tenant on new rows before validation and checks that every related
    row chosen belongs to the row's own tenant."""

    scoped_tenant: Tenant | None = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        tenant_unset = getattr(self.instance, "tenant_id", False) is None
        if self.scoped_tenant is not None and tenant_unset:
            self.instance.tenant = self.scoped_tenant

    def _get_validation_exclusions(self):
        # Django leaves out fields that are not on the form, such as the hidden tenant and an
        # inline's link to its parent, and with them every constraint naming them. Put back
        # the ones whose value is known, so (tenant, ...) uniqueness is a form error, not an
        # IntegrityError.
        # django-stubs leave out BaseModelForm's private _get_validation_exclusions()
        exclude = super()._get_validation_exclusions()  # type: ignore[misc]
        for name in list(exclude):
            if name == "tenant" or isinstance(self.fields.get(name), InlineForeignKeyField):
                field = self.instance._meta.get_field(name)
                if getattr(self.instance, field.attname, None) is not None:
                    exclude.discard(name)
        return exclude

    def validate_unique(self):
        # Django's inline forms never check constraints that name the link to the parent
        # (it is excluded from full_clean), so (tenant, date) duplicates would reach the
        # database. Check those here, once the link's value is known.
        super().validate_unique()
        links = {n for n, f in self.fields.items() if isinstance(f, InlineForeignKeyField)}
        if not links:
            return
        exclude = self._get_validation_exclusions() - links
        model = type(self.instance)
        for constraint in model._meta.constraints:
            if links & set(getattr(constraint, "fields", ()) or ()):
                try:
                    constraint.validate(model, self.instance, exclude=exclude)
                except ValidationError as exc:
                    self._update_errors(exc)  # type: ignore[attr-defined]  # private, not in the stubs

    def _own_tenant_id(self, cleaned) -> int | None:
        """The tenant the row belongs to: its chosen or set tenant, its inline parent's, or
        that of the row its tenant is reached through (a rule set's agent)."""
        if cleaned.get("tenant"):
            return cleaned["tenant"].pk
        parent = getattr(self, "parent_tenant_id", None)
        if parent is not None:
            return parent
        found = instance_tenant_id(self.instance)
        if found is not None:
            return found
        model = type(self.instance)
        if not is_tenant_scoped(model) or tenant_lookup(model) == "pk":
            return None
        anchor = cleaned.get(tenant_lookup(model).split("__")[0])
        return _tenant_of_value(anchor) if isinstance(anchor, models.Model) else None

    def clean(self):
        cleaned = super().clean() or self.cleaned_data  # it is cleaned_data; typed Optional
        tenant_id = self._own_tenant_id(cleaned)
        if tenant_id is None:
            return cleaned
        for name, field in self.fields.items():
            if name == "tenant" or not isinstance(field, forms.ModelChoiceField):
                continue
            if field.queryset is None or not is_tenant_scoped(field.queryset.model):
                continue
            values = cleaned.get(name)
            if values is None:
                continue
            many = isinstance(field, forms.ModelMultipleChoiceField)
            for value in values if many else [values]:
                if _tenant_of_value(value) != tenant_id:
                    self.add_error(name, f"“{value}” belongs to another tenant.")
                    break
        return cleaned


def instance_tenant_id(instance: models.Model) -> int | None:
    """The tenant id of a (possibly unsaved) row, read through its attributes, or None."""
    model = type(instance)
    if not is_tenant_scoped(model):
        return None
    lookup = tenant_lookup(model)
    if lookup == "pk":
        return instance.pk
    *path, last = lookup.split("__")
    current: Any = instance
    try:
        for part in path:
            current = getattr(current, part, None)
            if current is None:
                return None
    except ObjectDoesNotExist:
        return None
    return getattr(current, f"{last}_id", None)


def _config_changed(instance: models.Model) -> None:
    _config_changed_for(instance_tenant_id(instance))


def _config_changed_for(tenant_id: int | None) -> None:
    """What the admin changed may be configuration the orchestrator caches."""

    if tenant_id is not None:
        config_changed(tenant_id)


class TenantScopedInlineFormSet(BaseInlineFormSet):
    """Gives each inline form its parent's tenant, so a related row chosen in an inline is
    checked against it even before the parent is saved."""

    def _construct_form(self, i, **kwargs):
        form = super()._construct_form(i, **kwargs)  # type: ignore[misc]  # private, not in the stubs
        form.parent_tenant_id = instance_tenant_id(self.instance)
        return form


if TYPE_CHECKING:  # the admin classes it is mixed into
    _AdminBase = admin.options.BaseModelAdmin[Any]
else:
    _AdminBase = object


class TenantScopedMixin(_AdminBase):
    """Shared by model admins and inlines."""

    # every JSON field of a model is read through the one JSON door (a form error, not a 500)
    formfield_overrides: ClassVar[Mapping[type[models.Field], Mapping[str, Any]]] = {
        models.JSONField: {"form_class": StrictJSONField}
    }

    def _manager_tenant(self, request) -> Tenant | None:
        return None if request.user.is_superuser else managed_tenant(request.user)

    def _allowed(self, request) -> bool:
        return admin_allowed(request.user)  # the admin's row of the permission matrix

    def has_module_permission(self, request) -> bool:
        return self._allowed(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return self._allowed(request)

    def has_add_permission(self, request, *args) -> bool:
        return self._allowed(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return self._allowed(request)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self._allowed(request)

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return scope_queryset(queryset, managed_tenant(request.user))

    def get_exclude(self, request, obj=None):
        exclude = list(super().get_exclude(request, obj) or [])
        if not request.user.is_superuser and "tenant" not in exclude:
            exclude.append("tenant")
        return exclude

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        if request.user.is_superuser:
            return fields
        return [f for f in fields if f != "tenant"]

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if request.user.is_superuser:
            return fieldsets
        return [
            (name, {**opts, "fields": [f for f in opts["fields"] if f != "tenant"]})
            for name, opts in fieldsets
        ]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        queryset = getattr(field, "queryset", None)
        if field is not None and queryset is not None:
            field.queryset = _scoped_choices(queryset, request)
        return field

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        queryset = getattr(field, "queryset", None)
        if field is not None and queryset is not None:
            field.queryset = _scoped_choices(queryset, request)
        return field


class CalendarSafeChangeList(ChangeList):
    """Django's date drill-down computes the day, month or year after the one asked for, which
    does not exist past 9999 (a 500). A year outside the dates we take
    (``core.dates``) is refused as Django refuses other bad filters."""

    def get_filters(self, request):
        if self.date_hierarchy:
            for year in request.GET.getlist(f"{self.date_hierarchy}__year"):
                try:
                    known = year_in_range(int(year))
                except ValueError:
                    known = False
                if not known:
                    raise IncorrectLookupParameters(f"{year[:10]!r} is not a year we show")
        return super().get_filters(request)


class TenantScopedAdmin(TenantScopedMixin, admin.ModelAdmin):
    form = TenantScopedForm

    def get_changelist(self, request, **kwargs):
        return CalendarSafeChangeList

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        return type(form.__name__, (form,), {"scoped_tenant": self._manager_tenant(request)})

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404(f"No {self.opts.verbose_name} with ID {object_id!r}.")
        return obj

    def get_list_filter(self, request):
        filters = list(super().get_list_filter(request))
        if request.user.is_superuser and tenant_lookup(self.model) != "pk":
            filters.insert(0, tenant_lookup(self.model))
        return filters

    def save_model(self, request, obj, form, change):
        tenant = self._manager_tenant(request)
        if tenant is not None and hasattr(obj, "tenant_id") and obj.tenant_id is None:
            obj.tenant = tenant
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        _config_changed(form.instance)

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        _config_changed(obj)

    def delete_queryset(self, request, queryset):
        touched = {instance_tenant_id(obj) for obj in queryset}
        super().delete_queryset(request, queryset)
        for tenant_id in touched:
            _config_changed_for(tenant_id)


class TenantScopedTabularInline(TenantScopedMixin, admin.TabularInline):
    form = TenantScopedForm
    formset = TenantScopedInlineFormSet


class TenantScopedStackedInline(TenantScopedMixin, admin.StackedInline):
    form = TenantScopedForm
    formset = TenantScopedInlineFormSet


class ReadOnlyMixin:
    """For rows written only by services (or pages that are no rows): viewable, never added,
    changed or deleted in the admin."""

    def has_add_permission(self, request, *args) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
