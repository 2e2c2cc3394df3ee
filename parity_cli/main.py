"""`parity`: the parser, the global options, the dispatch to a subcommand, the exit codes.

Exit codes: 0 done; 1 the command failed (an AWS error, a failed move task); 2 usage or configuration
(unknown queue, no stack found); 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from parity_cli import commands
from parity_cli.context import Context
from parity_cli.errors import CliError
from parity_cli.output import Output
from parity_cli.resources import LOCAL_FILE_ENV, STACK_NAME_ENV, resolve

GLOBAL_DEFAULTS = {"json": False, "local": False, "stack_name": None, "region": None}

EPILOG = f"""\
where Parity is:
  --local               a running local stack (`make dev`), through the connection file it writes
                        (.parity/local.json, or ${LOCAL_FILE_ENV})
  --stack-name NAME     a deployed stack's CloudFormation outputs (or ${STACK_NAME_ENV}); --region
  neither               the functions' environment: TABLE_NAME, EVENTS_QUEUE_URL, EVENT_BUS_NAME, ...

examples:
  parity --local dlq list
  parity --stack-name parity-prod --region eu-west-1 dlq show StoreEvents --max 20
  parity --stack-name parity-prod dlq redrive StoreEvents --json
"""


def global_options() -> argparse.ArgumentParser:
    """The options every command takes, before or after its name (defaults are filled in after
    parsing, so a subcommand's parser cannot reset what was given before it)."""
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("global options")
    group.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output (one JSON document)"
    )
    group.add_argument(
        "--local", action="store_true", default=argparse.SUPPRESS, help="talk to the running local stack (make dev)"
    )
    group.add_argument(
        "--stack-name", metavar="NAME", default=argparse.SUPPRESS, help="the deployed CloudFormation stack"
    )
    group.add_argument("--region", default=argparse.SUPPRESS, help="its AWS region (default: boto3's)")
    return common


def build_parser() -> argparse.ArgumentParser:
    common = global_options()
    parser = argparse.ArgumentParser(
        prog="parity",
        description="Parity's operator console.",
        parents=[common],
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )

    def add(parent: argparse.ArgumentParser, name: str, *, help: str, description: str | None = None):
        """A subcommand `name` under `parent` (the top-level parser or a command's), with the global options."""
        children = getattr(parent, "_parity_children", None)
        if children is None:
            children = parent.add_subparsers(title="commands", metavar="COMMAND")
            children.required = True
            parent._parity_children = children
        return children.add_parser(
            name,
            help=help,
            description=description or help,
            parents=[common],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    for name, module in commands.discover():
        command = add(parser, name, help=module.HELP, description=module.__doc__)
        module.register(command, add)
    return parser


def run(
    argv: Sequence[str] | None = None,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
    clients: dict[str, Any] | None = None,
    cloudformation=None,
    tty: bool | None = None,
) -> int:
    """The command line `argv` (default: sys.argv[1:]); returns the exit code. Tests pass streams,
    an environment, stubbed `clients` by service name and a `cloudformation` client factory."""
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, or a usage error argparse already printed
        return int(exit_.code or 0)
    for name, value in GLOBAL_DEFAULTS.items():
        if not hasattr(args, name):
            setattr(args, name, value)
    output = Output(stdout, stderr, json_mode=args.json, tty=tty)
    try:
        resources = resolve(
            local=args.local,
            stack_name=args.stack_name,
            region=args.region,
            environ=os.environ if environ is None else environ,
            cloudformation=cloudformation,
        )
        code = args.handler(Context(resources, output, clients), args)
        return 0 if code is None else int(code)
    except CliError as error:
        output.error(error.message, error.code)
        return error.exit_code
    except KeyboardInterrupt:
        output.error("interrupted", "interrupted")
        return 130
    except Exception as error:  # AWS errors: a message, not a traceback
        return _aws_error(output, error)


def _aws_error(output: Output, error: Exception) -> int:
    from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError

    if isinstance(error, EndpointConnectionError):
        output.error(f"cannot reach {error.kwargs.get('endpoint_url')}: is the stack running?", "unreachable")
    elif isinstance(error, NoCredentialsError):
        output.error("no AWS credentials (configure a profile, or use --local)", "no_credentials")
    elif isinstance(error, ClientError):
        details = error.response.get("Error", {})
        output.error(f"{error.operation_name}: {details.get('Code')}: {details.get('Message')}", "aws_error")
    elif isinstance(error, BotoCoreError):
        output.error(str(error), "aws_error")
    else:
        raise error
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
