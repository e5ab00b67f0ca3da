from core.models.config import ConfigGeneration
from core.models.credentials import ApiKey, PersonalToken
from core.models.groups import ApproverGroup
from core.models.outbox import OutboxEvent, OutboxKind
from core.models.sessions import PersonSession
from core.models.tenants import (
    OPENS_BEFORE_CLOSES,
    BusinessHours,
    FileUsage,
    Holiday,
    Membership,
    OpeningInterval,
    Role,
    Tenant,
    TenantOwned,
    Weekday,
    validate_time_zone,
)
from core.models.webhooks import (
    DeliveryStatus,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEventType,
)

__all__ = [
    "OPENS_BEFORE_CLOSES",
    "ApiKey",
    "ApproverGroup",
    "BusinessHours",
    "ConfigGeneration",
    "DeliveryStatus",
    "FileUsage",
    "Holiday",
    "Membership",
    "OpeningInterval",
    "OutboxEvent",
    "OutboxKind",
    "PersonSession",
    "PersonalToken",
    "Role",
    "Tenant",
    "TenantOwned",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEventType",
    "Weekday",
    "validate_time_zone",
]
