"""One Logger and one Metrics for the package (Powertools: structured JSON logs, EMF metrics)."""

from aws_lambda_powertools import Logger, Metrics

logger = Logger(service="parity")
metrics = Metrics(namespace="Parity", service="parity")
