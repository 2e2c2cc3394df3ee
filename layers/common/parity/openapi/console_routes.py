"""The operator console's admin routes of the route table (`routes.ROUTES`): finding a customer, one
stored event, the health page, the dead letters and a reconcile now. IAM on AWS."""

from __future__ import annotations

from ..services.operations import MAX_DEAD_LETTERS, MAX_HOURS
from . import admin_models as a
from . import bodies
from . import console_examples as cx
from .operation import IAM, NOT_OPERATOR, TOO_LARGE, USER_ID_RULE, Answer, Operation, Query, constant, error

MALFORMED = "The request body is not JSON."
NO_DLQ = "No dead-letter queue is configured here."
QUEUE = Query("queue", "The queue pair whose dead letters: `StoreEvents` or `Reconcile`.", {"type": "string", "minLength": 1}, required=True)

CONSOLE_ROUTES: tuple[Operation, ...] = (
    Operation(
        "GET", "/v1/admin/lookup", "lookupCustomer", "admin",
        "Find a customer",
        "The users a user id, an appAccountToken, a purchase id (with or without its store's prefix: `sub_...`, "
        "an original transaction id) or a Stripe customer id (`cus_...`) finds. Parity keeps no email "
        "addresses: searching one finds nothing and says what to search instead.",
        (
            Answer(
                200, "The matches (none: an empty list).", a.LookupAnswer,
                {"appAccountToken": cx.lookup, "purchase": cx.lookup_purchase, "email": cx.lookup_email},
            ),
            error(
                400, "No query, or one over 512 characters.",
                invalid_request="The query parameter 'q' is required.",
                invalid_query="Search for a user id, an appAccountToken, a purchase id or a customer id.",
            ),
            NOT_OPERATOR,
        ),
        auth=IAM,
        query=(Query("q", "What to search for.", {"type": "string", "minLength": 1, "maxLength": 512}, required=True),),
    ),
    Operation(
        "GET", "/v1/admin/events/{source}/{eventId}", "getStoredEvent", "admin",
        "One stored event",
        "Its verified body, what processing made of it (outcome, the change events it recorded, the last "
        "failure) and the replay step it wrote.",
        (
            Answer(200, "The event.", a.EventDetailAnswer, {"grant": cx.event}),
            error(400, "An invalid id.", invalid_path_parameter="eventId must be 1–512 printable ASCII characters."),
            NOT_OPERATOR,
            error(404, "No such event.", not_found="No event app_store/0f1e2d3c-example is stored."),
        ),
        auth=IAM,
    ),
    Operation(
        "GET", "/v1/admin/stats", "getHealth", "admin",
        "What the health page charts",
        "Events received per store and entitlement changes per hour, entitlements by store and state, how long "
        "each store has been silent, the latest drift reports and the dead-letter queues with their depth. One "
        "bounded pass over the table (`complete: false` and a note when it stopped at its budget).",
        (
            Answer(200, "The figures.", a.HealthAnswer, {"sixHours": cx.stats}),
            error(400, "`hours` is no whole number from 1 to 336.", invalid_request=f"hours must be 1 to {MAX_HOURS}."),
            NOT_OPERATOR,
        ),
        auth=IAM,
        query=(Query("hours", "How many hours back.", {"type": "integer", "minimum": 1, "maximum": MAX_HOURS, "default": 48}),),
    ),
    Operation(
        "GET", "/v1/admin/dlq", "getDeadLetters", "admin",
        "The dead letters",
        "Up to `max` dead letters of each dead-letter queue, none consumed (each is made visible again at "
        "once), with the event log's record of the event each carries.",
        (
            Answer(200, "The dead letters.", a.DeadLettersAnswer, {"one": cx.dead_letters}),
            error(400, "`max` is no whole number from 1 to 50.", invalid_request=f"max must be 1 to {MAX_DEAD_LETTERS}."),
            NOT_OPERATOR,
            error(404, "No dead-letter queue is configured here.", not_found=NO_DLQ),
        ),
        auth=IAM,
        query=(Query("max", "At most this many per queue.", {"type": "integer", "minimum": 1, "maximum": MAX_DEAD_LETTERS, "default": 20}),),
    ),
    Operation(
        "POST", "/v1/admin/dlq/redrive", "redriveDeadLetters", "admin",
        "Move a queue's dead letters back",
        "Back to the queue they came from (safe: processing is idempotent): by an SQS message move task where "
        "the endpoint has them, else one by one. Recorded in the event log with the operator.",
        (
            Answer(200, "The redrive.", a.RedriveAnswer, {"moveTask": cx.redrive, "oneByOne": cx.redrive_one_by_one}),
            error(400, "Not JSON.", malformed_body=MALFORMED),
            NOT_OPERATOR,
            error(
                404, "No dead-letter queue is configured here, or none of that name.",
                not_found="There is no dead-letter queue 'Orders' (known: StoreEvents, Reconcile).",
            ),
            TOO_LARGE,
            error(422, "JSON of no accepted shape.", invalid_request="The request body does not match any accepted shape (queue: Field required)."),
        ),
        auth=IAM,
        body=bodies.QueueRequest,
        body_examples={"storeEvents": constant({"queue": "StoreEvents"})},
    ),
    Operation(
        "DELETE", "/v1/admin/dlq", "purgeDeadLetters", "admin",
        "Delete a queue's dead letters",
        "Every dead letter of the queue is deleted. Recorded in the event log with the operator.",
        (
            Answer(200, "The purge.", a.PurgeAnswer, {"purged": constant({"queue": "StoreEvents", "purged": 3})}),
            error(400, "No `queue`.", invalid_request="The query parameter 'queue' is required."),
            NOT_OPERATOR,
            error(
                404, "No dead-letter queue is configured here, or none of that name.",
                not_found="There is no dead-letter queue 'Orders' (known: StoreEvents, Reconcile).",
            ),
        ),
        auth=IAM,
        query=(QUEUE,),
    ),
    Operation(
        "POST", "/v1/admin/reconcile", "reconcileNow", "admin",
        "Check purchases against their stores now",
        "Queues a store check of one purchase (`purchaseId`), or of every purchase a user holds (`userId`; an "
        "alias: the user it was merged into), under a new drift report (`status: manual`); the reconcile worker "
        "makes them as it makes the nightly scan's. Give exactly one of the two.",
        (
            Answer(200, "The checks queued.", a.ReconcileAnswer, {"user": cx.reconcile}),
            error(400, "Not JSON, or an invalid user id.", malformed_body=MALFORMED, invalid_user_id=USER_ID_RULE),
            NOT_OPERATOR,
            error(
                404, "No such user or purchase, or no reconcile queue configured here.",
                user_not_found="No user 'u_123' is known.",
                purchase_not_found="No purchase 'app_store:2000000123456789' is known.",
                not_found="No reconcile queue is configured here.",
            ),
            TOO_LARGE,
            error(
                422, "JSON of no accepted shape (neither or both of `userId` and `purchaseId`).",
                invalid_request="The request body does not match any accepted shape (body: give exactly one of userId and purchaseId).",
            ),
        ),
        auth=IAM,
        body=bodies.ReconcileRequest,
        body_examples={"user": constant({"userId": "u_123"}), "purchase": constant({"purchaseId": "app_store:2000000123456789"})},
    ),
)  # fmt: skip
