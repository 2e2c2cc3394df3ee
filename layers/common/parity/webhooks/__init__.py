"""Verification of inbound store webhooks: nothing unverified goes further."""
