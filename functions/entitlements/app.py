"""GET /v1/users/{userId}/entitlements: what this user may use right now (one DynamoDB Query)."""

from parity import bootstrap
from parity.http import HttpError, error_response, path_parameter, require_own_user, response
from parity.observability import logger
from parity.settings import Settings

settings = Settings.from_env()
reader = bootstrap.entitlement_reader(settings)


@logger.inject_lambda_context
def lambda_handler(event, context):
    try:
        user_id = path_parameter(event, "userId")
        require_own_user(event, user_id)
        return response(200, reader.read(user_id))
    except HttpError as error:
        return error_response(error)
