"""What CloudWatch records of SQS on AWS, for the local stack: every minute, each dead-letter queue's
`ApproximateNumberOfMessagesVisible` (namespace `AWS/SQS`, dimension `QueueName`), put into the
emulated CloudWatch, so that the admin routes read the DLQ depth history the same way on both."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timezone

log = logging.getLogger("local.metrics")
PERIOD_SECONDS = 60.0


class QueueMetrics(threading.Thread):
    def __init__(self, sqs, cloudwatch, queue_urls: list[str], stop: threading.Event, period: float = PERIOD_SECONDS):
        super().__init__(name="queue-metrics", daemon=True)
        self._sqs, self._cloudwatch, self._urls, self._stopping, self._period = sqs, cloudwatch, queue_urls, stop, period

    def sample(self) -> None:
        data = []
        for url in self._urls:
            attributes = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
            data.append(
                {
                    "MetricName": "ApproximateNumberOfMessagesVisible",
                    "Dimensions": [{"Name": "QueueName", "Value": url.rsplit("/", 1)[-1]}],
                    "Timestamp": datetime.now(timezone.utc),
                    "Value": float(attributes["Attributes"].get("ApproximateNumberOfMessages", 0)),
                    "Unit": "Count",
                }
            )
        if data:
            self._cloudwatch.put_metric_data(Namespace="AWS/SQS", MetricData=data)

    def run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.sample()
            except Exception as error:  # noqa: BLE001 - a missed sample is a gap in a chart
                log.warning("DLQ depth sample failed: %s", error)
            self._stopping.wait(self._period)
