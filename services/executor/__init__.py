"""The executor: runs WASI modules sandboxed and metered.

Public surface: the gRPC service (:mod:`services.executor.service`) and, for in-repo callers
such as ``outlayer run``, :class:`Executor` with :class:`ExecutionJob`. Modules starting with an
underscore are private.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from services.executor.executor import ExecutionJob, Executor

__all__ = ["ExecutionJob", "Executor"]


def __getattr__(name: str) -> Any:
    # Imported when first asked for, not with the package: the zygote (``_zygote``), whose
    # every byte of heap each fork copies the page tables of, imports only what a worker needs.
    if name in __all__:
        from services.executor import executor

        return getattr(executor, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
