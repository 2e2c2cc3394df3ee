"""DELETE /v1/users/{userId}: the user erases their own account (the contract's "Erasure"); 204."""

from parity import bootstrap
from parity.domain.errors import ParityError
from parity.http import error_response, no_content, require_own_user, user_id_parameter
from parity.observability import lambda_entry
from parity.settings import Settings

settings = Settings.from_env()
erasure = bootstrap.erasure(settings)


@lambda_entry
def lambda_handler(event, context):
    try:
        user_id = user_id_parameter(event)
        require_own_user(event, user_id)
        erasure.erase(user_id)
        return no_content()
    except ParityError as error:
        return error_response(error)
