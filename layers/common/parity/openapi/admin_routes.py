"""The operator routes on users and purchases of the route table (`routes.ROUTES`); IAM on AWS."""

from __future__ import annotations

from . import admin_models as a
from . import bodies
from . import examples as ex
from . import models as m
from .operation import (
    CONFLICT,
    IAM,
    INVALID_USER,
    NOT_OPERATOR,
    TOO_LARGE,
    USER_ID_RULE,
    Answer,
    Operation,
    constant,
    error,
)

REASON = {"reason": constant({"reason": "support ticket 4711"}), "none": constant({})}

ADMIN_ROUTES: tuple[Operation, ...] = (
    Operation(
        "PUT", "/v1/admin/purchases/{purchaseId}/owner", "assignOwner", "admin",
        "Manual association",
        "Makes the user the purchase's owner; it outranks every later claim until another manual association.",
        (
            Answer(200, "The purchase's owners now and before.", m.AssignmentAnswer, {"assigned": ex.assignment}),
            error(400, "Not JSON, or an invalid id.", invalid_user_id="User ids are 1–256 printable characters without whitespace."),
            NOT_OPERATOR,
            error(404, "No such purchase.", purchase_not_found="There is no purchase app_store:2000000123456789."),
            error(422, "JSON of no accepted shape.", invalid_request="The request body does not match any accepted shape (userId: Field required)."),
        ),
        auth=IAM,
        body=bodies.OwnerAssignment,
        body_examples={"assign": constant({"userId": "u_456", "reason": "support ticket 4711"})},
    ),
    Operation(
        "POST", "/v1/admin/users/{userId}/merge", "mergeUsers", "admin",
        "Merge a user into another",
        "After it, both ids read the merged entitlements.",
        (
            Answer(200, "The merge.", m.MergeAnswer, {"merged": ex.merge}),
            error(400, "Not JSON, or an invalid id.", invalid_user_id="User ids are 1–256 printable characters without whitespace."),
            NOT_OPERATOR,
            error(409, "The merge cannot be done.", merge_refused="A user cannot be merged into itself."),
            error(422, "JSON of no accepted shape.", invalid_request="The request body does not match any accepted shape (fromUserId: Field required)."),
        ),
        auth=IAM,
        body=bodies.MergeRequest,
        body_examples={"merge": constant({"fromUserId": "u_old_456"})},
    ),
    Operation(
        "GET", "/v1/admin/users/{userId}", "getUserReport", "admin",
        "A user's purchases, claims, refusals, flags and the events behind them",
        "What an operator needs to judge who may use what, and why.",
        (
            Answer(200, "The report.", m.AdminUserAnswer, {"report": ex.admin_user}),
            error(400, "An invalid id.", invalid_user_id="User ids are 1–256 printable characters without whitespace."),
            NOT_OPERATOR,
            error(404, "No such user.", user_not_found="There is no user u_123."),
        ),
        auth=IAM,
    ),
    Operation(
        "POST", "/v1/admin/users/{userId}/grants", "grantEntitlement", "admin",
        "Grant an entitlement by hand",
        "A promotion, an App Review demo account, goodwill: a new purchase `manual:<id>` (`store: manual`, "
        "`ownership: manual`) the user holds until `expiresAt` (null: until revoked). Audited with the operator "
        "and the reason; its entitlement changes are published like any other.",
        (
            Answer(201, "The grant, as a purchase of the user's.", a.GrantAnswer, {"granted": ex.grant}),
            error(
                400, "Not JSON, JSON of no accepted shape, an end already past, or an invalid id.",
                malformed_body="The request body is not JSON.",
                invalid_request="The grant does not match any accepted shape (entitlement: Field required).",
                invalid_user_id=USER_ID_RULE,
            ),
            NOT_OPERATOR,
            TOO_LARGE,
            error(422, "No product of the catalog grants the entitlement.", unknown_entitlement="No product of the catalog grants 'platinum'."),
            CONFLICT,
        ),
        auth=IAM,
        body=bodies.GrantRequest,
        body_examples={
            "thirtyDays": constant({"entitlement": "pro", "expiresAt": "2026-12-21T10:00:00Z", "reason": "App Review demo account"}),
            "untilRevoked": constant({"entitlement": "pro", "expiresAt": None, "reason": "goodwill, ticket 4711"}),
        },
    ),
    Operation(
        "DELETE", "/v1/admin/users/{userId}/grants/{purchaseId}", "revokeGrant", "admin",
        "End a manual grant",
        "The grant is `revoked` from now on (its record stays); revoking it again changes nothing. The body is "
        "optional: a `reason` for the audit trail.",
        (
            Answer(200, "The grant as it stands after.", a.GrantAnswer, {"revoked": ex.revoked_grant}),
            error(
                400, "Not JSON, JSON of no accepted shape, or an invalid id.",
                malformed_body="The request body is not JSON.",
                invalid_request="The request body does not match any accepted shape (reason: String should have at most 500 characters).",
                invalid_user_id=USER_ID_RULE,
                invalid_path_parameter="purchaseId must be 1–512 printable ASCII characters.",
            ),
            NOT_OPERATOR,
            error(404, "The user holds no manual grant of that id.", grant_not_found="'u_123' holds no manual grant 'manual:9f86d081884c4d659a2feaa0c55ad015'."),
            TOO_LARGE,
            CONFLICT,
        ),
        auth=IAM,
        body=bodies.ReasonRequest,
        body_required=False,
        body_examples=REASON,
    ),
    Operation(
        "DELETE", "/v1/admin/users/{userId}/flags/refund-abuse", "clearRefundAbuseFlag", "admin",
        "Clear the refund-abuse review flag",
        "The refunds stay counted: a further refund flags the user again. Clearing a flag that is not set "
        "changes nothing. The body is optional: a `reason` for the audit trail.",
        (
            Answer(200, "The flag as it stands after (without the history the user report shows).", a.FlagAnswer, {"cleared": ex.flag}),
            error(
                400, "Not JSON, JSON of no accepted shape, or an invalid id.",
                malformed_body="The request body is not JSON.",
                invalid_request="The request body does not match any accepted shape (reason: Input should be a valid string).",
                invalid_user_id=USER_ID_RULE,
            ),
            NOT_OPERATOR,
            error(404, "No such user.", user_not_found="No user 'u_123' is known."),
            TOO_LARGE,
            CONFLICT,
        ),
        auth=IAM,
        body=bodies.ReasonRequest,
        body_required=False,
        body_examples=REASON,
    ),
    Operation(
        "DELETE", "/v1/admin/users/{userId}", "eraseUser", "admin",
        "Erase a user's account",
        "What `DELETE /v1/users/{userId}` does, for operators (the audit line names the operator). A merged id "
        "erases the user it was merged into, with every id merged into that user. Erasing again is a 204 too.",
        (Answer(204, "Erased (or nothing left to erase)."), INVALID_USER, NOT_OPERATOR, CONFLICT),
        auth=IAM,
    ),
    Operation(
        "GET", "/v1/admin/users/{userId}/entitlements", "getAppAnswer", "admin",
        "The answer the user's app receives now",
        "`GET /v1/users/{userId}/entitlements` as the app gets it, signed, for a user Parity knows (an alias "
        "reads the user it was merged into); it creates no account.",
        (
            Answer(200, "The user's entitlements and purchases, signed.", m.EntitlementsAnswer, {"grace": ex.entitlements}),
            INVALID_USER,
            NOT_OPERATOR,
            error(404, "No such user.", user_not_found="No user 'u_123' is known."),
        ),
        auth=IAM,
    ),
)  # fmt: skip
