from django.contrib import admin

from approvals.models import ApproverGroup
from orchestration.admin_scoping import TenantScopedAdmin


@admin.register(ApproverGroup)
class ApproverGroupAdmin(TenantScopedAdmin):
    list_display = ["name", "member_count"]
    filter_horizontal = ["members"]
    search_fields = ["name"]

    @admin.display(description="members")
    def member_count(self, group) -> int:
        return group.members.count()
