"""POST /v1/users/{userId}/receipts: validate a purchase with its store, claim it, answer entitlements."""

from parity import bootstrap
from parity.bodies import parse_receipt
from parity.domain.errors import ParityError
from parity.http import error_response, raw_body, require_own_user, response, user_id_parameter
from parity.observability import lambda_entry
from parity.settings import Settings
from parity.views import receipt_response

settings = Settings.from_env()
receipts = bootstrap.receipt_service(settings)
signer = bootstrap.entitlement_signer(settings)  # read once per container


@lambda_entry
def lambda_handler(event, context):
    try:
        user_id = user_id_parameter(event)
        require_own_user(event, user_id)
        body = raw_body(event)
        outcome = receipts.submit(user_id, parse_receipt(body), body)
    except ParityError as error:
        return error_response(error)
    return response(*receipt_response(outcome, signer))
