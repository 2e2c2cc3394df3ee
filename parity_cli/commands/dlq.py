"""Dead-letter queues: what failed, why, and moving it back.

  parity dlq list                       each DLQ, its source queue, its messages (visible, in flight)
  parity dlq show [QUEUE] [--max N]     the dead letters, with their event and failure reason
  parity dlq redrive [QUEUE]            move them back to their source queue
  parity dlq purge [QUEUE] --yes        delete them (what `dlq show` shows is lost for good)

QUEUE is a queue pair's name (StoreEvents, store-events), a queue's name or URL; without it every DLQ.
"""

from __future__ import annotations

import argparse
from typing import Any

from parity_cli import wiring
from parity_cli.output import shorten, table

HELP = "dead-letter queues: list, show (with failure reasons), redrive, purge"

SHOW_HELP = """\
The dead letters of each DLQ (or of QUEUE), without consuming them: message id, the event (source,
eventId, type), receive count, sent time, and the failure reason the event processor recorded on the
event's log item (last error, when, how many failures).

Nothing is deleted: each page is received, held out of sight for a few seconds while it is read, and
made visible again at once. Receiving bumps each message's receive count. On a FIFO queue at most ten
messages of one message group can be seen (SQS releases a group's later messages only after the
earlier ones are gone)."""

REDRIVE_HELP = """\
Move the dead letters of each DLQ (or of QUEUE) back to their source queue, for the processor to try
again (fix the cause first: `dlq show` says what it was).

On AWS this starts an SQS message move task (StartMessageMoveTask) and follows it until it completes
or fails. Where that API is missing (the local stack's emulator) messages move one by one: each is
sent to the source queue, and deleted from the DLQ only once the send succeeded, so none is lost; on
a FIFO queue the send keeps the message group and a deduplication id derived from the dead letter, so
a redrive interrupted between a send and its delete and run again sends nothing twice.

Processing is idempotent (an event already applied is not applied again), so a redrive is safe to
repeat."""


def register(parser: argparse.ArgumentParser, add) -> None:
    listing = add(parser, "list", help="each DLQ with its source queue and message counts")
    listing.set_defaults(handler=run_list)

    show = add(parser, "show", help="the dead letters and why they failed (not consumed)", description=SHOW_HELP)
    show.add_argument("queue", nargs="?", metavar="QUEUE", help="a queue pair (StoreEvents); default: every DLQ")
    show.add_argument("--max", type=_positive, default=20, metavar="N", help="at most N messages per DLQ (20)")
    show.set_defaults(handler=run_show)

    redrive = add(
        parser,
        "redrive",
        help="move dead letters back to their source queue (safe to repeat)",
        description=REDRIVE_HELP,
    )
    redrive.add_argument("queue", nargs="?", metavar="QUEUE", help="a queue pair (StoreEvents); default: every DLQ")
    how = redrive.add_mutually_exclusive_group()
    how.add_argument(
        "--one-by-one", action="store_true", help="move messages one by one even where a move task is available"
    )
    how.add_argument(
        "--rate", type=_positive, metavar="N", help="move task: at most N messages per second (default: SQS's)"
    )
    redrive.add_argument("--max", type=_positive, metavar="N", help="move at most N messages (implies --one-by-one)")
    redrive.set_defaults(handler=run_redrive)

    purge = add(parser, "purge", help="delete the dead letters of each DLQ (or of QUEUE); needs --yes")
    purge.add_argument("queue", nargs="?", metavar="QUEUE", help="a queue pair (StoreEvents); default: every DLQ")
    purge.add_argument("--yes", action="store_true", help="required: purged messages cannot be redriven")
    purge.set_defaults(handler=run_purge)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _queues(ctx, name: str | None):
    from parity_cli.deadletters.queues import describe_all

    pairs = [ctx.find_queue(name)] if name else list(ctx.dead_letter_queues())
    return describe_all(ctx.client("sqs"), pairs)


# ------------------------------------------------------------------------------------------- list


def run_list(ctx, args) -> int:
    queues = _queues(ctx, None)
    data = {"origin": ctx.resources.origin, "dlqs": [queue.to_json() for queue in queues]}
    ctx.output.result(data, render_list)
    return 0


def render_list(data: dict) -> str:
    if not data["dlqs"]:
        return f"No dead-letter queues in {data['origin']}."
    rows = [
        [q["name"], q["dlq"], q["sourceQueue"] or "?", q["visible"], q["inFlight"], q["total"]] for q in data["dlqs"]
    ]
    text = table(["QUEUE", "DEAD-LETTER QUEUE", "SOURCE QUEUE", "VISIBLE", "IN FLIGHT", "TOTAL"], rows, right=(3, 4, 5))
    return f"{text}\n\n({data['origin']}; counts are approximate)"


# ------------------------------------------------------------------------------------------- show


def run_show(ctx, args) -> int:
    from parity_cli.deadletters.peeking import peek

    repository = wiring.repository(ctx) if ctx.resources.table_name else None
    shown = []
    for queue in _queues(ctx, args.queue):
        with ctx.output.progress(f"reading {queue.name}", total=min(args.max, queue.visible) or None) as progress:
            letters = peek(ctx.client("sqs"), repository, queue, args.max, progress)
        shown.append({**queue.to_json(), "shown": len(letters), "messages": [letter.to_json() for letter in letters]})
    ctx.output.result({"origin": ctx.resources.origin, "dlqs": shown}, render_show)
    return 0


def render_show(data: dict) -> str:
    blocks = []
    for queue in data["dlqs"]:
        head = f"{queue['name']} ({queue['dlq']} → {queue['sourceQueue'] or '?'}): "
        if not queue["messages"]:
            blocks.append(head + "no dead letters.")
            continue
        more = queue["total"] - queue["shown"]
        head += f"{queue['shown']} dead letter{'s' if queue['shown'] != 1 else ''} shown" + (
            f" (about {more} more)" if more > 0 else ""
        )
        lines = [head]
        for message in queue["messages"]:
            lines += [""] + [f"  {line}" for line in _message_lines(message)]
        blocks.append("\n".join(lines))
    if any(queue["messages"] for queue in data["dlqs"]):
        blocks.append("(none was consumed; receiving them bumped their receive count)")
    return "\n\n".join(blocks) or "No dead-letter queues."


def _message_lines(message: dict[str, Any]) -> list[str]:
    if message["source"] and message["eventId"]:
        event = f"{message['source']} {message['eventId']}"
        if message["eventType"]:
            event += f" ({message['eventType']})"
    elif message["subject"]:
        event = " ".join(f"{name}={value}" for name, value in message["subject"].items())
    elif message.get("problem"):
        event = f"? (unreadable: {message['problem']})"
    else:
        event = "? (the body names no event)"
    label = "event  " if message["source"] and message["eventId"] else "subject"
    lines = [f"message   {message['messageId']}", f"{label}   {event}"]
    if message["messageGroupId"]:
        lines.append(f"group     {message['messageGroupId']}")
    lines.append(f"receives  {message['receiveCount']}, sent {message['sentAt'] or '?'}")
    failure = message["failure"]
    if failure:
        count = failure["failures"]
        lines.append(f"failure   {shorten(failure['error'], 300)}")
        lines.append(f"          {count} failure{'s' if count != 1 else ''}, last at {failure['at']}")
    elif message["inEventLog"] is False:
        lines.append("failure   not recorded: the event log does not hold this event")
    else:
        lines.append("failure   not recorded")
    if message["processedAt"]:
        lines.append(f"processed {message['processedAt']} ({message['outcome']}): a redrive will change nothing")
    return lines


# ---------------------------------------------------------------------------------------- redrive


def run_redrive(ctx, args) -> int:
    from parity_cli.deadletters.redriving import redrive
    from parity_cli.drift import requeue_parked

    # The local stack's emulator has no StartMessageMoveTask: its messages always move one by one.
    method = "one-by-one" if args.one_by_one or ctx.resources.local else "auto"
    queues = _queues(ctx, args.queue)
    results = [redrive(ctx, queue, method=method, max_messages=args.max, rate=args.rate) for queue in queues]
    data = {"origin": ctx.resources.origin, "redrives": [result.to_json() for result in results]}
    if any(queue.name == wiring.STORE_EVENTS for queue in queues) and not args.max:
        # The events that waited for what was dead-lettered (a refund for the invoice naming its
        # subscription) were parked unresolved: they go back too, behind the redriven ones.
        data["unresolvedRequeued"] = requeue_parked(ctx)
    ctx.output.result(data, render_redrive)
    return 0 if all(result.status == "COMPLETED" for result in results) else 1


def render_redrive(data: dict) -> str:
    lines = []
    if data.get("unresolvedRequeued"):
        lines.append(f"{data['unresolvedRequeued']} unresolved event(s) sent back to the store-events queue.")
    for r in data["redrives"]:
        if r["method"] == "none":
            lines.append(f"{r['name']}: nothing to redrive ({r['dlq']} is empty).")
            continue
        how = "by an SQS message move task" if r["method"] == "move-task" else "one by one"
        plural = "s" if r["moved"] != 1 else ""
        line = f"{r['name']}: moved {r['moved']} message{plural} from {r['dlq']} back to {r['sourceQueue']} {how}"
        line += f", {r['status']} in {r['seconds']:.1f} s."
        lines.append(line)
        if r["failureReason"]:
            lines.append(f"  failure: {r['failureReason']}")
        if r["failedAgain"]:
            lines.append(
                f"  {r['failedAgain']} resent message(s) failed again and are back in the DLQ: see `dlq show`."
            )
    return "\n".join(lines) or "No dead-letter queues."


# ------------------------------------------------------------------------------------------ purge


def run_purge(ctx, args) -> int:
    """SQS PurgeQueue on each DLQ: what it held is gone (the events stay in the event log)."""
    from parity_cli.errors import CliError

    if not args.yes:
        raise CliError("purged dead letters cannot be redriven: add --yes", "confirmation_required", 2)
    purged = []
    for queue in _queues(ctx, args.queue):
        ctx.client("sqs").purge_queue(QueueUrl=queue.url)
        purged.append({"name": queue.name, "dlq": queue.queue_name, "purged": queue.visible + queue.in_flight + queue.delayed})
    ctx.output.result({"origin": ctx.resources.origin, "purged": purged}, render_purge)
    return 0


def render_purge(data: dict) -> str:
    lines = [f"{p['name']}: purged {p['dlq']} (about {p['purged']} message(s))." for p in data["purged"]]
    return "\n".join(lines) or "No dead-letter queues."
