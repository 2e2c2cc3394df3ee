"""moto's DynamoDB and SQS at a cost that does not grow with the table: the local stack's patches
(`local.moto_speed`), used by the in-process harness as a context manager."""

from local.moto_speed import fast_transactions

__all__ = ["fast_transactions"]
