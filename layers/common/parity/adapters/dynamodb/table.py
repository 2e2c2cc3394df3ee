"""The table handle the adapter's parts share: the client, the table's name, and the requests they all
make (transaction items, consistent batch reads, paged reads, conditional updates)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

DEFAULT_RECHECK = timedelta(days=7)
DEFAULT_BODY_RETENTION = timedelta(days=90)  # EVENT_RETENTION_DAYS' default

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def dump_item(item: dict[str, Any]) -> dict[str, Any]:
    """Plain values typed for the low-level client; attributes whose value is None are left out."""
    return {key: _serializer.serialize(value) for key, value in item.items() if value is not None}


def load_item(item: dict[str, Any]) -> dict[str, Any]:
    """An item from the low-level client as plain values."""
    return {key: _deserializer.deserialize(value) for key, value in item.items()}


class Table:
    """One DynamoDB table, as every part of the adapter reaches it."""

    def __init__(
        self,
        name: str,
        client: DynamoDBClient | None = None,
        recheck: timedelta = DEFAULT_RECHECK,
        body_retention: timedelta = DEFAULT_BODY_RETENTION,
    ) -> None:
        """`client`: built once per container when none is given. `recheck`: how long after its last
        check a purchase is due for the drift scan again (it places purchases in the due index).
        `body_retention`: how long a stored event's raw body is kept (its item's `ttl`)."""
        if client is None:
            import boto3

            client = boto3.client("dynamodb")
        self.name = name
        self.client = client
        self.recheck = recheck
        self.body_retention = body_retention

    def put(self, key: dict[str, Any], attributes: dict[str, Any], **condition: Any) -> dict[str, Any]:
        """A transaction Put of one item (attributes whose value is None are left out)."""
        return {"Put": {"TableName": self.name, "Item": {**key, **dump_item(attributes)}, **condition}}

    def delete(self, key: dict[str, Any]) -> dict[str, Any]:
        """A transaction Delete of one item."""
        return {"Delete": {"TableName": self.name, "Key": key}}

    def update(self, key: dict[str, Any], expression: str, values: dict[str, Any], **more: Any) -> dict[str, Any]:
        """An UpdateItem request (or a transaction Update) with plain values."""
        return {
            "TableName": self.name,
            "Key": key,
            "UpdateExpression": expression,
            **more,
            "ExpressionAttributeValues": dump_item(values),
        }

    def update_if(self, update: dict[str, Any]) -> bool:
        """UpdateItem under its condition: False when the condition failed (nothing written)."""
        try:
            self.client.update_item(**update)
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def batch_get(self, keys: list[dict[str, Any]], attributes: Sequence[str] = ()) -> list[dict[str, Any]]:
        """Consistent BatchGetItem (of `attributes` only, when named), items loaded; keys DynamoDB leaves
        unprocessed (throttling) are asked again."""
        items: list[dict[str, Any]] = []
        request: dict[str, Any] = {self.name: {"Keys": keys, "ConsistentRead": True}}
        if attributes:
            names = {f"#a{i}": name for i, name in enumerate(attributes)}
            request[self.name].update(ProjectionExpression=", ".join(names), ExpressionAttributeNames=names)
        while request:
            response = self.client.batch_get_item(RequestItems=request)
            items += [load_item(item) for item in response.get("Responses", {}).get(self.name, [])]
            request = response.get("UnprocessedKeys") or {}
        return items

    def pages(self, operation: str = "query", **request: Any) -> Iterator[list[dict[str, Any]]]:
        """The items of a Query (or Scan) page after page, raw: each page asked for when the one before
        has been used."""
        read = getattr(self.client, operation)
        while True:
            response = read(TableName=self.name, **request)
            yield response.get("Items", [])
            if "LastEvaluatedKey" not in response:
                return
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]


class OnTable:
    """The base of the adapter's parts: each implements one port on a table it shares with the others."""

    def __init__(self, table: Table) -> None:
        self._table = table

    @property
    def table(self) -> Table:
        """The table handle, for another part built on the same client (the composition root's)."""
        return self._table
