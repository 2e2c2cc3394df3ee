"""`parity`: the operator console, talking to the same resources as the functions.

    parity [--json] [--local | --stack-name NAME [--region REGION]] COMMAND ...

Where the resources are (`parity_cli.resources`): `--local` reads the connection file a running local
stack writes (`.parity/local.json`, or `$PARITY_LOCAL_FILE`); `--stack-name` reads a CloudFormation
stack's outputs; with neither, the functions' own environment names (TABLE_NAME, EVENTS_QUEUE_URL,
EVENT_BUS_NAME, ...). Results go to stdout, as tables or (`--json`) as one JSON document; progress
bars and notes go to stderr, and never with `--json`.

Modules:
- `main`: the parser, the global options, the dispatch, the exit codes (0 done, 1 failed, 2 usage);
- `commands/`: one module per subcommand, found by `commands.discover()`;
- `resources`: one `Resources` dataclass, resolved once from the sources above;
- `context`: what a command receives (the resources, boto3 clients, the output);
- `output`, `progress`: tables, JSON, the progress bar;
- `wiring`: the services and adapters a command uses, built by the functions' composition root
  (`parity.bootstrap`) from the resolved resources and the console's clients;
- `deadletters/`: the dead-letter queues' logic (`queues`, `peeking`, `redriving`), without argparse;
- `drift`: the drift scan's console side (run it, queue checks, wait for and render reports).

Adding a subcommand (`scan`, `reconcile`, `replay`, ...): add a module `parity_cli/commands/<name>.py`
that defines

    HELP = "one line for `parity --help`"

    def register(parser: argparse.ArgumentParser, add) -> None:
        parser.add_argument(...)               # the subcommand's own options
        parser.set_defaults(handler=run)       # or, for sub-subcommands (`parity dlq list`):
        # child = add(parser, "list", help="...");  child.set_defaults(handler=run_list)

    def run(ctx: Context, args: argparse.Namespace) -> int | None:
        ...                                    # wiring.repository(ctx), ctx.client("sqs"), ctx.resources
        ctx.output.result(data, render)        # data: JSON-able; render(data) -> str for people

and nothing else: `commands.discover()` imports every module of the package that has `register`
(so keep heavy imports inside `run`), and `add` gives each parser the global options, so they work
before or after the subcommand (`parity --json dlq list` and `parity dlq list --json`). Raise
`parity_cli.errors.CliError` for a failure to report (no traceback); long loops take
`ctx.output.progress(label, total)`. Test it with `parity_cli.main.run(argv, ...)`.
"""
