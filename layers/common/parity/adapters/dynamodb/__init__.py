"""DynamoDB: the storage ports on one table (see `repository`)."""

from .repository import (
    DEFAULT_RECHECK,
    MAX_TRANSACTION_ITEMS,
    NOT_FOLDED,
    WROTE_A_PURCHASE,
    DynamoRepository,
    audit_key,
    audit_to_item,
    entitlement_to_item,
    event_key,
    item_to_audit,
    item_to_entitlement,
    item_to_purchase,
    purchase_key,
    purchase_to_item,
    user_pk,
)
