"""Users (`parity.ports.Users`): a user's partition read whole, and its profile created once.

All an entitlements read needs, so the read function loads this part of the adapter and not the commit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from ...domain.users import UserState
from .codecs import items_to_user, new_profile_to_item
from .schema import iso, profile_key, token_key, user_pk
from .table import OnTable, Table, load_item

if TYPE_CHECKING:
    from ...ports import UserWrite

NEW = "attribute_not_exists(PK)"


class DynamoUsers(OnTable):
    """Users on the table: their partition, their token, their profile."""

    def load_user(self, user_id: str) -> UserState:
        """The user's partition in one consistent Query (every page)."""
        items: list[dict[str, Any]] = []
        for page in self._table.pages(
            KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues={":pk": {"S": user_pk(user_id)}},
            ConsistentRead=True,
        ):
            items += map(load_item, page)
        return items_to_user(user_id, items)

    def user_for_token(self, app_account_token: str) -> str | None:
        """The user an appAccountToken was issued to (or moved to), None when unknown."""
        response = self._table.client.get_item(TableName=self._table.name, Key=token_key(app_account_token))
        item = response.get("Item")
        return None if item is None else item["userId"]["S"]

    def create_profile(self, user_id: str, app_account_token: str) -> UserState:
        """Issue the user's appAccountToken once; when another writer came first, theirs stands."""
        try:
            self._table.client.transact_write_items(
                TransactItems=new_user_writes(self._table, user_id, app_account_token)
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            return self.load_user(user_id)
        # Ours stands; a user's items are only ever written together with the profile, so there are none.
        return UserState(user_id=user_id, app_account_token=app_account_token, version=1)


def new_user_writes(
    table: Table, user_id: str, app_account_token: str, user: UserWrite | None = None
) -> list[dict[str, Any]]:
    """A new user's profile and token: both puts fail if the user or the token exists (the token is
    issued exactly once)."""
    profile = new_profile_to_item(user_id, app_account_token, user)
    return [
        table.put(profile_key(user_id), profile, ConditionExpression=NEW),
        table.put(token_key(app_account_token), {"userId": user_id}, ConditionExpression=NEW),
    ]


def profile_writes(table: Table, user: UserWrite) -> list[dict[str, Any]]:
    """A new user's profile and token (`new_user_writes`), or an existing profile's update on its version."""
    if user.expected_version == 0:
        if user.new_app_account_token is None:
            raise ValueError(f"a new user ({user.user_id}) is written with its appAccountToken")
        return new_user_writes(table, user.user_id, user.new_app_account_token, user)
    sets = ["version = :next"]
    values: dict[str, Any] = {":next": user.expected_version + 1, ":expected": user.expected_version}
    if user.refunds_added:
        sets.append("refunds = if_not_exists(refunds, :zero) + :refunds")
        values |= {":zero": 0, ":refunds": user.refunds_added}
    if user.flagged_at:
        sets.append("flaggedAt = :flagged")
        values[":flagged"] = iso(user.flagged_at)
    if user.merged_into:
        sets.append("mergedInto = :into")
        values[":into"] = user.merged_into
    if user.aliases_added:
        sets.append("aliases = list_append(if_not_exists(aliases, :none), :aliases)")
        values |= {":none": [], ":aliases": list(user.aliases_added)}
    expression = "SET " + ", ".join(sets) + (" REMOVE flaggedAt" if user.flag_cleared else "")
    update = table.update(profile_key(user.user_id), expression, values, ConditionExpression="version = :expected")
    return [{"Update": update}]
