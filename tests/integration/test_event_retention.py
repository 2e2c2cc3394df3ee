"""Raw event bodies expire (`EVENT_RETENTION_DAYS`): on AWS the table's TTL deletes their items; the
local stack sweeps them itself (`local.expiry`), since moto keeps expired items. The event item stays,
so idempotency and replay do not depend on the body."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from local.expiry import sweep
from parity.adapters.dynamodb import DynamoRepository
from parity.ports import StoredEvent


def test_an_expired_body_is_swept_and_the_event_stays(stack):
    repo = DynamoRepository(stack.table, stack.session.client("dynamodb"), body_retention=timedelta(days=1))
    old = datetime.now(timezone.utc) - timedelta(days=2)
    repo.append(StoredEvent("stripe", "evt_old", "invoice.paid", "sub_1", old, b'{"id": "evt_old"}'))
    repo.append(StoredEvent("stripe", "evt_new", "invoice.paid", "sub_1", datetime.now(timezone.utc), b'{"id": "evt_new"}'))
    assert repo.get_event_body("stripe", "evt_old") == b'{"id": "evt_old"}'  # TTL is lazy: until it is swept

    deleted = sweep(stack.session.client("dynamodb"), stack.table, now=time.time())

    assert deleted == 1
    assert repo.get_event_body("stripe", "evt_old") is None
    assert repo.get_event_body("stripe", "evt_new") == b'{"id": "evt_new"}'
    assert stack.event_item("evt_old") is not None
    assert repo.append(StoredEvent("stripe", "evt_old", "invoice.paid", "sub_1", old, b"{}")).stored is False
