"""GET /v1/users/{userId}/entitlements: what this user may use right now (one DynamoDB Query)."""

from parity import bootstrap
from parity.domain.errors import ParityError
from parity.http import error_response, require_own_user, response, user_id_parameter
from parity.observability import lambda_entry
from parity.settings import Settings
from parity.views import entitlements_response

settings = Settings.from_env()
reader = bootstrap.entitlement_reader(settings)
signer = bootstrap.entitlement_signer(settings)  # read once per container


@lambda_entry(with_metrics=False)
def lambda_handler(event, context):
    try:
        user_id = user_id_parameter(event)
        require_own_user(event, user_id)
        return response(200, entitlements_response(reader.read(user_id), signer))
    except ParityError as error:
        return error_response(error)
