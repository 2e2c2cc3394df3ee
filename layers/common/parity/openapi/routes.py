"""Every route Parity serves (app, admin, provider, public), with its body, query parameters, answers and
examples: the one table the OpenAPI document is generated from, put together from the app, provider,
admin and operator console routes. A test holds it to template.yaml's routes and the local stack's, both
ways."""

from __future__ import annotations

from .admin_routes import ADMIN_ROUTES
from .app_routes import APP_ROUTES
from .console_routes import CONSOLE_ROUTES
from .operation import IAM, JWT, PUBSUB, STRIPE, Answer, Operation, Query
from .provider_routes import PROVIDER_ROUTES

ROUTES: tuple[Operation, ...] = APP_ROUTES + PROVIDER_ROUTES + ADMIN_ROUTES + CONSOLE_ROUTES

__all__ = ["IAM", "JWT", "PUBSUB", "ROUTES", "STRIPE", "Answer", "Operation", "Query"]
