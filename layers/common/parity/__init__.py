"""Parity: a self-hosted entitlement service (shared layer package)."""
