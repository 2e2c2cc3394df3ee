"""`parity console`: the operator console's page on 127.0.0.1, against a deployed stack's admin API,
its calls signed with your AWS credentials (`parity_cli.console.proxy` says why and how it is kept to
you). Locally there is nothing to run: the local stack serves the page at `/console/` itself."""

from __future__ import annotations

import argparse

from parity_cli.errors import CliError

HELP = "serve the operator console's page on 127.0.0.1 against a deployed stack (IAM-signed admin calls)"


def register(parser: argparse.ArgumentParser, add) -> None:
    parser.add_argument("--port", type=int, default=8765, help="local port (default 8765; 0: any free port)")
    parser.add_argument("--admin-url", metavar="URL", help="the admin API's base URL (default: the stack's AdminApiUrl output)")
    parser.set_defaults(handler=run)


def _admin_url(ctx, args) -> str:
    if args.admin_url:
        return args.admin_url
    if ctx.resources.local:
        raise CliError("the local stack serves the console itself: open <its base URL>/console/", "local_console", 2)
    stack = getattr(args, "stack_name", None)
    if not stack:
        raise CliError("give --stack-name NAME (or --admin-url URL)", "no_admin_api", 2)
    described = ctx.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    if "AdminApiUrl" not in outputs:
        raise CliError(f"stack {stack} has no AdminApiUrl output", "no_admin_api", 2)
    return outputs["AdminApiUrl"]


def run(ctx, args) -> int:
    from parity_cli.console.proxy import ConsoleProxy

    session = ctx.session()
    if session.get_credentials() is None:
        raise CliError("no AWS credentials (configure a profile)", "no_credentials", 2)
    region = ctx.resources.region or session.region_name or "us-east-1"
    proxy = ConsoleProxy(args.port, _admin_url(ctx, args), session, region)
    print(f"Parity console for {proxy.admin_url}\n  open: {proxy.link}\n  (Ctrl-C stops it)", flush=True)
    try:
        proxy.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        proxy.server_close()
    return 0
