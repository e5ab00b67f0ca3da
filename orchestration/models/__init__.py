from orchestration.models.credentials import ApiKey, PersonalToken
from orchestration.models.orchestrator_settings import (
    GlobalOrchestratorSettings,
    HandoffMode,
    OrchestratorSettings,
    RiskCategory,
    SettingsLevel,
    StackOrchestratorSettings,
    TenantOrchestratorSettings,
)
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
    "GlobalOrchestratorSettings",
    "HandoffMode",
    "Holiday",
    "Membership",
    "OrchestratorSettings",
    "PersonalToken",
    "RiskCategory",
    "Role",
    "SettingsLevel",
    "StackOrchestratorSettings",
    "Tenant",
    "TenantOrchestratorSettings",
    "TenantOwned",
    "Weekday",
    "validate_time_zone",
]
