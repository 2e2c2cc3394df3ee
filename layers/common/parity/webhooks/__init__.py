"""Verification of inbound store data: nothing unverified goes further."""

from ..domain.errors import RejectedWebhook, WebhookNotConfigured

__all__ = ["RejectedWebhook", "WebhookNotConfigured"]
