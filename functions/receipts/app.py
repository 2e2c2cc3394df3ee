"""POST /v1/users/{userId}/receipts: validate a purchase with its store, claim it, answer entitlements."""

from parity import bootstrap
from parity.http import HttpError, error_response, path_parameter, raw_body, require_own_user, response
from parity.observability import logger, metrics
from parity.settings import Settings

settings = Settings.from_env()
receipts = bootstrap.receipt_service(settings)


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event, context):
    try:
        user_id = path_parameter(event, "userId")
        require_own_user(event, user_id)
        answer = receipts.submit(user_id, raw_body(event))
    except HttpError as error:
        return error_response(error)
    return response(answer.status, answer.body)
