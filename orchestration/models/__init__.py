from orchestration.models.credentials import ApiKey, PersonalToken
from orchestration.models.tenants import (
    BusinessHours,
    Holiday,
    Membership,
    Role,
    Tenant,
    TenantOwned,
    Weekday,
    validate_time_zone,
)

__all__ = [
    "ApiKey",
    "BusinessHours",
    "Holiday",
    "Membership",
    "PersonalToken",
    "Role",
    "Tenant",
    "TenantOwned",
    "Weekday",
    "validate_time_zone",
]
