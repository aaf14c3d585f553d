"""How a host call fails, as the guest sees it."""

from __future__ import annotations

from services.executor._guest_abi import HostStatus


class HostCallError(Exception):
    """A host call refused or failed, with the status the guest sees and a message for it."""

    def __init__(self, status: HostStatus, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
