"""The console's services and adapters, built by the functions' own composition root (`parity.bootstrap`)
from the resources the console resolved, with the console's boto3 clients (`Context.client`).

The settings are the functions' (`parity.settings.Settings`), parsed from the resolved names as the
functions parse their environment; only the catalog is the console's choice (`parity replay --catalog`).
"""

from __future__ import annotations

from parity_cli.errors import CliError

RECONCILE = "Reconcile"
STORE_EVENTS = "StoreEvents"


def _queue_url(ctx, name: str) -> str | None:
    return next((pair.queue_url for pair in ctx.resources.queues if pair.name == name and pair.queue_url), None)


def _service_logs_to_stderr() -> None:
    """The services log JSON lines to stdout (Lambda's way); here stdout is the command's answer."""
    import sys

    from parity.observability import logger

    logger.registered_handler.setStream(sys.stderr)
    logger.setLevel("WARNING")


def _settings(ctx, catalog_file: str | None = None):
    """The functions' settings for the resources `ctx` resolved; the services' logs go to stderr."""
    from parity.settings import ConfigurationError, Settings

    _service_logs_to_stderr()
    names = {
        "TABLE_NAME": ctx.resources.table_name,
        "EVENTS_QUEUE_URL": _queue_url(ctx, STORE_EVENTS),
        "RECONCILE_QUEUE_URL": _queue_url(ctx, RECONCILE),
        "EVENT_BUS_NAME": ctx.resources.event_bus_name,
        "CATALOG_FILE": catalog_file,
    }
    try:
        return Settings.from_env({name: value for name, value in names.items() if value})
    except ConfigurationError as error:
        code = "bad_catalog" if "CATALOG_FILE" in str(error) else "bad_configuration"
        raise CliError(str(error), code, 2) from error


def _needs_table(ctx) -> None:
    if not ctx.resources.table_name:
        raise CliError(f"no table in {ctx.resources.origin}", "no_table", 2)


def repository(ctx):
    """The table's repository (event log, purchases and users, drift reports)."""
    from parity import bootstrap

    _needs_table(ctx)
    return bootstrap.repository(_settings(ctx), ctx.client)


def event_intake(ctx):
    """The store-events side of the event log (to send unresolved events back), or None without the
    queue or the table."""
    from parity import bootstrap

    if not (_queue_url(ctx, STORE_EVENTS) and ctx.resources.table_name):
        return None
    return bootstrap.event_intake(_settings(ctx), clients=ctx.client)


def _needs_reconcile_queue(ctx) -> None:
    if not _queue_url(ctx, RECONCILE):
        raise CliError(f"no reconcile queue in {ctx.resources.origin}", "no_queue", 2)


def reconcile_queue(ctx):
    from parity import bootstrap

    _needs_reconcile_queue(ctx)
    return bootstrap.reconcile_queue(_settings(ctx), ctx.client)


def drift_scan(ctx):
    """The functions' drift scan; it sends unresolved events back when the store-events queue is known."""
    from parity import bootstrap

    _needs_reconcile_queue(ctx)
    _needs_table(ctx)
    return bootstrap.drift_scan(_settings(ctx), ctx.client)


def replayer(ctx, catalog_file: str):
    """The replay, with change events published when the bus is known."""
    from parity import bootstrap

    _needs_table(ctx)
    return bootstrap.replayer(_settings(ctx, catalog_file), ctx.client)


def catalog_file(ctx) -> str:
    """The catalog the functions use: the local stack's, else `$CATALOG_FILE`, else the layer's."""
    from parity_cli.commands.replay import catalog_file as first_catalog

    return first_catalog(ctx.resources.catalog_file)


def _operator_services(ctx):
    """(settings, repository, publisher) for the operator actions: the table and the change bus."""
    from parity import bootstrap

    _needs_table(ctx)
    if not ctx.resources.event_bus_name:
        raise CliError(f"no change-event bus in {ctx.resources.origin}", "no_event_bus", 2)
    settings = _settings(ctx, catalog_file(ctx))
    repo = bootstrap.repository(settings, ctx.client)
    return settings, repo, bootstrap.change_publisher(settings, ctx.client)


def administration(ctx):
    """Manual association, merges and the user report: the admin routes' service."""
    from parity import bootstrap

    settings, repo, publisher = _operator_services(ctx)
    return bootstrap.administration(settings, repo, publisher)


def support(ctx):
    """Manual grants and review flags: the admin routes' service."""
    from parity import bootstrap

    settings, repo, publisher = _operator_services(ctx)
    return bootstrap.support(settings, repo, publisher)


def erasure(ctx):
    """Account erasure: the admin route's service."""
    from parity import bootstrap

    settings, repo, publisher = _operator_services(ctx)
    return bootstrap.erasure(settings, repo, publisher)


def operator(ctx) -> str:
    """Who runs the console, for the audit trail: the AWS identity (on AWS), else the local user."""
    import getpass

    if ctx.resources.local:
        return f"console:{getpass.getuser()}"
    return ctx.client("sts").get_caller_identity()["Arn"]
