"""What every command receives: the resolved resources, boto3 clients aimed at them, the output."""

from __future__ import annotations

from typing import Any

from parity_cli.output import Output
from parity_cli.resources import LOCAL_CREDENTIALS, Resources, discover_dead_letter_queues


class Context:
    def __init__(self, resources: Resources, output: Output, clients: dict[str, Any] | None = None) -> None:
        self.resources = resources
        self.output = output
        self._clients: dict[Any, Any] = dict(clients or {})  # tests hand in stubbed clients by service name
        self._session = None
        self._dlqs_discovered = False

    def client(self, service: str, *, attempts: int | None = None):
        """A boto3 client for `service` (the local stack's endpoint and fake credentials with `--local`).
        `attempts`: total attempts (1: no retry), for calls whose failure is an answer."""
        if service in self._clients:
            return self._clients[service]
        key = (service, attempts)
        if key not in self._clients:
            from botocore.config import Config

            config = Config(retries={"mode": "standard", "total_max_attempts": attempts}) if attempts else None
            self._clients[key] = self.session().client(service, endpoint_url=self.resources.endpoint_url, config=config)
        return self._clients[key]

    def session(self):
        if self._session is None:
            import boto3

            if self.resources.local:
                key, secret = LOCAL_CREDENTIALS
                self._session = boto3.Session(
                    aws_access_key_id=key, aws_secret_access_key=secret, region_name=self.resources.region
                )
            else:
                self._session = boto3.Session(region_name=self.resources.region)
        return self._session

    def dead_letter_queues(self):
        """The queue pairs that have a DLQ (found from the queues' RedrivePolicy when not named)."""
        if not self._dlqs_discovered:
            if any(pair.queue_url and not pair.dlq_url for pair in self.resources.queues):
                self.resources = discover_dead_letter_queues(self.resources, self.client("sqs"))
            self._dlqs_discovered = True
        return self.resources.dead_letter_queues()

    def find_queue(self, text: str):
        self.dead_letter_queues()
        return self.resources.find_queue(text)
