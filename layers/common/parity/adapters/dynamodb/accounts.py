"""Erasing an account (`parity.ports.AccountStore`): its partition, its links, its audit trail, and the
raw bodies of the events that concern it. Plain deletes and updates, each idempotent: an erasure
interrupted half way is finished by running it again."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from .schema import audit_pk, body_key, customer_key, event_key, token_key, user_pk
from .table import OnTable, dump_item, load_item


class DynamoAccounts(OnTable):
    def erase_event_body(self, source: str, event_id: str) -> None:
        """Delete the body item and the body an older event item still holds (never creating one)."""
        self._table.client.delete_item(TableName=self._table.name, Key=body_key(source, event_id))
        try:
            self._table.client.update_item(
                TableName=self._table.name,
                Key=event_key(source, event_id),
                UpdateExpression="REMOVE body",
                ConditionExpression="attribute_exists(PK)",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def erase_account(self, user_id: str, tokens: Sequence[str], customer_refs: Sequence[str], names: Sequence[str]) -> None:
        """Links first, then the audit trail, then the partition (its profile last): a run that stops
        half way leaves the profile, so the next run finds the account and finishes it."""
        for key in [token_key(token) for token in tokens] + [customer_key("stripe", ref) for ref in customer_refs]:
            self._delete_if_names(key, names)
        for item in self._items(audit_pk(user_id)):
            if item.get("action") != "erased":
                self._delete(item)
        items = self._items(user_pk(user_id))
        for item in sorted(items, key=lambda item: item["SK"] == "PROFILE"):
            self._delete(item)

    def replace_audit_mentions(self, user_id: str, erased: str, placeholder: str) -> int:
        changed = 0
        for item in self._items(audit_pk(user_id)):
            others = item.get("otherUserIds") or []
            if erased in others:
                names = [placeholder if other == erased else other for other in others]
                key = {"PK": {"S": item["PK"]}, "SK": {"S": item["SK"]}}
                self._table.client.update_item(**self._table.update(key, "SET otherUserIds = :names", {":names": names}))
                changed += 1
        return changed

    def _items(self, pk: str) -> list[dict[str, Any]]:
        return [
            load_item(item)
            for page in self._table.pages(
                KeyConditionExpression="PK = :pk", ExpressionAttributeValues={":pk": {"S": pk}}, ConsistentRead=True
            )
            for item in page
        ]

    def _delete(self, item: dict[str, Any]) -> None:
        self._table.client.delete_item(TableName=self._table.name, Key={"PK": {"S": item["PK"]}, "SK": {"S": item["SK"]}})

    def _delete_if_names(self, key: dict[str, Any], names: Sequence[str]) -> None:
        """Delete a lookup item while it resolves to one of `names` (a link moved since stays)."""
        values = {f":n{i}": name for i, name in enumerate(names)}
        try:
            self._table.client.delete_item(
                TableName=self._table.name,
                Key=key,
                ConditionExpression=f"userId IN ({', '.join(values)})",
                ExpressionAttributeValues=dump_item(values),
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

