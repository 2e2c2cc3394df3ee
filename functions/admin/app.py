"""Operator routes (IAM on AWS, `Bearer $ADMIN_TOKEN` locally):

- `PUT /v1/admin/purchases/{purchaseId}/owner` `{"userId"}`: manual association;
- `POST /v1/admin/users/{userId}/merge` `{"fromUserId"}`: merge a user into another;
- `GET /v1/admin/users/{userId}`: purchases, claims, refusals, flags and the events behind them;
- `POST /v1/admin/users/{userId}/grants` `{"entitlement", "expiresAt", "reason"}`: a manual grant (201);
- `DELETE /v1/admin/users/{userId}/grants/{purchaseId}`: the grant ends (200, the grant revoked);
- `DELETE /v1/admin/users/{userId}/flags/refund-abuse` (`{"reason"}` optional): the review flag cleared;
- `DELETE /v1/admin/users/{userId}`: the account erased (204);
- the operator console's: `GET /v1/admin/users/{userId}/entitlements` (the app's answer), `GET /v1/admin/lookup?q=`, `GET /v1/admin/events/{source}/{eventId}`,
  `GET /v1/admin/stats?hours=`, `GET /v1/admin/dlq`, `POST /v1/admin/dlq/redrive` `{"queue"}`,
  `DELETE /v1/admin/dlq?queue=`, `POST /v1/admin/reconcile` `{"userId"}` or `{"purchaseId"}`.
"""

from parity import bootstrap
from parity.bodies import GrantRequest, MergeRequest, OwnerAssignment, ReasonRequest, parse_json, parse_request
from parity.domain.errors import NotFound, ParityError
from parity.http import (
    check_user_id,
    error_response,
    no_content,
    operator,
    path_parameter,
    raw_body,
    response,
    user_id_parameter,
)
from parity.observability import lambda_entry
from parity.operator_bodies import QueueRequest, ReconcileRequest, query_number, query_text
from parity.operator_views import (
    dead_letters_view,
    event_detail_view,
    health_view,
    lookup_view,
    reconcile_view,
    redrive_view,
)
from parity.settings import Settings
from parity.views import admin_user_view, assignment_view, entitlements_response, flag_view, grant_view, merge_view

settings = Settings.from_env()
# One of each, shared; the publisher, the signer and the queues are built at the first route using them.
repo, publisher = bootstrap.repository(settings), bootstrap.change_publisher(settings, lazy=True)
admin = bootstrap.administration(settings, repo, publisher)
support = bootstrap.support(settings, repo, publisher)
erasure = bootstrap.erasure(settings, repo, publisher)
operations = bootstrap.operations(settings, repo)
reader = bootstrap.entitlement_reader(settings, repo)
signer = bootstrap.entitlement_signer(settings, lazy=True)  # the console shows the answer the app receives, signed
catalog = settings.core.catalog


def assign_owner(event: dict, actor: str) -> dict:
    body = parse_json(raw_body(event), OwnerAssignment, "invalid_request", "request body")
    purchase_id = path_parameter(event, "purchaseId")
    return assignment_view(admin.assign_owner(purchase_id, check_user_id(body.user_id), actor, body.reason))


def merge(event: dict, actor: str) -> dict:
    body = parse_json(raw_body(event), MergeRequest, "invalid_request", "request body")
    return merge_view(admin.merge(user_id_parameter(event), check_user_id(body.from_user_id), actor, body.reason))


def user_report(event: dict, actor: str) -> dict:
    return admin_user_view(admin.user_report(user_id_parameter(event)))


def grant(event: dict, actor: str) -> tuple[int, dict]:
    user_id = user_id_parameter(event)
    body = parse_request(raw_body(event), GrantRequest, "grant")
    granted = support.grant(user_id, body.entitlement, body.expires_at, actor, body.reason)
    return 201, grant_view(granted, granted.owner_ids[0], catalog, granted.event_time)


def revoke_grant(event: dict, actor: str) -> dict:
    user_id, purchase_id = user_id_parameter(event), path_parameter(event, "purchaseId")
    body = parse_request(raw_body(event), ReasonRequest, "request body", optional=True)
    ended = support.revoke(user_id, purchase_id, actor, body.reason)
    return grant_view(ended, ended.owner_ids[0] if ended.owner_ids else user_id, catalog, ended.event_time)


def clear_flag(event: dict, actor: str) -> dict:
    body = parse_request(raw_body(event), ReasonRequest, "request body", optional=True)
    return flag_view(support.clear_flag(user_id_parameter(event), actor, body.reason), settings.core.refund_threshold)


def erase(event: dict, actor: str) -> tuple[int, None]:
    erasure.erase(user_id_parameter(event), actor)
    return 204, None


def app_answer(event: dict, actor: str) -> dict:
    """The entitlements answer the user's app receives now (for a user Parity knows)."""
    return entitlements_response(reader.read(operations.known_user(user_id_parameter(event))), signer)


def lookup(event: dict, actor: str) -> dict:
    return lookup_view(operations.lookup(query_text(event, "q")))


def stored_event(event: dict, actor: str) -> dict:
    return event_detail_view(operations.event(path_parameter(event, "source"), path_parameter(event, "eventId")))


def stats(event: dict, actor: str) -> dict:
    return health_view(operations.health(query_number(event, "hours", 48)))


def dead_letters(event: dict, actor: str) -> dict:
    return dead_letters_view(operations.dead_letters(query_number(event, "max", 20)))


def redrive(event: dict, actor: str) -> dict:
    body = parse_json(raw_body(event), QueueRequest, "invalid_request", "request body")
    return redrive_view(operations.redrive(body.queue, actor))


def purge(event: dict, actor: str) -> dict:
    queue = query_text(event, "queue")
    return {"queue": queue, "purged": operations.purge(queue, actor)}


def reconcile(event: dict, actor: str) -> dict:
    body = parse_json(raw_body(event), ReconcileRequest, "invalid_request", "request body")
    user_id = check_user_id(body.user_id) if body.user_id else None
    return reconcile_view(operations.reconcile(user_id, body.purchase_id, actor))


ROUTES = {
    "PUT /v1/admin/purchases/{purchaseId}/owner": assign_owner,
    "POST /v1/admin/users/{userId}/merge": merge,
    "GET /v1/admin/users/{userId}": user_report,
    "POST /v1/admin/users/{userId}/grants": grant,
    "DELETE /v1/admin/users/{userId}/grants/{purchaseId}": revoke_grant,
    "DELETE /v1/admin/users/{userId}/flags/refund-abuse": clear_flag,
    "DELETE /v1/admin/users/{userId}": erase,
    "GET /v1/admin/users/{userId}/entitlements": app_answer,
    "GET /v1/admin/lookup": lookup,
    "GET /v1/admin/events/{source}/{eventId}": stored_event,
    "GET /v1/admin/stats": stats,
    "GET /v1/admin/dlq": dead_letters,
    "POST /v1/admin/dlq/redrive": redrive,
    "DELETE /v1/admin/dlq": purge,
    "POST /v1/admin/reconcile": reconcile,
}


@lambda_entry
def lambda_handler(event, context):
    try:
        route = ROUTES.get(event.get("routeKey", ""))
        if route is None:
            raise NotFound(f"There is no admin route {event.get('routeKey')!r}.")
        answer = route(event, operator(event))
        status, body = answer if isinstance(answer, tuple) else (200, answer)
        return no_content() if status == 204 else response(status, body)
    except ParityError as error:
        return error_response(error)
