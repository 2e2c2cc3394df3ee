"""Verification of inbound store data: nothing unverified goes further."""


class RejectedWebhook(ValueError):
    """The request is not verifiable store data; `code` and the message say why (both safe to return)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
