"""Operator routes (IAM on AWS, `Bearer $ADMIN_TOKEN` locally):

- `PUT /v1/admin/purchases/{purchaseId}/owner` `{"userId"}`: manual association;
- `POST /v1/admin/users/{userId}/merge` `{"fromUserId"}`: merge a user into another;
- `GET /v1/admin/users/{userId}`: purchases, claims, refusals, flags and the events behind them.
"""

from parity import bootstrap
from parity.bodies import MergeRequest, OwnerAssignment, parse_json
from parity.domain.errors import NotFound, ParityError
from parity.http import check_user_id, error_response, operator, path_parameter, raw_body, response, user_id_parameter
from parity.observability import lambda_entry
from parity.settings import Settings
from parity.views import admin_user_view, assignment_view, merge_view

settings = Settings.from_env()
admin = bootstrap.administration(settings)


def assign_owner(event: dict, actor: str) -> dict:
    body = parse_json(raw_body(event), OwnerAssignment, "invalid_request", "request body")
    purchase_id = path_parameter(event, "purchaseId")
    return assignment_view(admin.assign_owner(purchase_id, check_user_id(body.user_id), actor, body.reason))


def merge(event: dict, actor: str) -> dict:
    body = parse_json(raw_body(event), MergeRequest, "invalid_request", "request body")
    return merge_view(admin.merge(user_id_parameter(event), check_user_id(body.from_user_id), actor, body.reason))


def user_report(event: dict, actor: str) -> dict:
    return admin_user_view(admin.user_report(user_id_parameter(event)))


ROUTES = {
    "PUT /v1/admin/purchases/{purchaseId}/owner": assign_owner,
    "POST /v1/admin/users/{userId}/merge": merge,
    "GET /v1/admin/users/{userId}": user_report,
}


@lambda_entry
def lambda_handler(event, context):
    try:
        route = ROUTES.get(event.get("routeKey", ""))
        if route is None:
            raise NotFound(f"There is no admin route {event.get('routeKey')!r}.")
        return response(200, route(event, operator(event)))
    except ParityError as error:
        return error_response(error)
