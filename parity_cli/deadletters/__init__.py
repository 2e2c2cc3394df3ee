"""Dead-letter queues: list them (`queues`), look at their messages without consuming them (`peeking`),
move them back (`redriving`).

Looking (`peek`): messages are received and held out of sight for a short while (`HOLD_SECONDS`), so
that successive receives page through the queue, then made visible again at once; nothing is ever
deleted. Receiving bumps a message's receive count (a DLQ has no redrive policy: nothing follows from
it). On a FIFO queue SQS hands out a message group's messages in order and the later ones only after
the earlier ones are gone, so at most ten messages of one group can be seen.

SQS keeps no failure reason: the event processor writes it on the event's log item (`lastError`,
`lastErrorAt`, `failures`; `DynamoRepository.record_failure`), read back here with one BatchGetItem
per page of messages (`DynamoRepository.event_failures`).

Moving back (`redrive`): SQS `StartMessageMoveTask` (DLQ → its source queue), polled with
`ListMessageMoveTasks` until it completes or fails. Where that API is missing (an emulator such as the
local stack's moto), messages move one by one: receive from the DLQ, send to the source queue, and only
after the send succeeded delete from the DLQ, so none is lost. On a FIFO queue the send keeps the
message group and takes a deduplication id derived from the dead letter's message id, so a redrive
interrupted between a send and its delete and run again within SQS's five-minute deduplication window
sends nothing twice; past the window the processor's processed-once guard makes a second copy harmless.
"""

