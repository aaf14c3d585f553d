"""What guests reach through their host functions (issue #15), on the executor's side.

The sandbox asks (``services.executor._guest_abi``); :class:`HostCalls` answers, one per run,
with the :class:`GuestServices` the job is given: storage, randomness, NEAR reads, fetch.
:mod:`.for_jobs` makes them for a leased job, :mod:`.local` for ``outlayer run``.
"""

from services.executor.capabilities.host_calls import GuestServices, HostCalls

__all__ = ["GuestServices", "HostCalls"]
