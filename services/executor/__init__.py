"""The executor: runs WASI modules sandboxed and metered.

Public surface: the gRPC service (:mod:`services.executor.service`) and, for in-repo callers
such as ``outlayer run``, :class:`Executor` with :class:`ExecutionJob`. Modules starting with an
underscore are private.
"""

from services.executor.executor import ExecutionJob, Executor

__all__ = ["ExecutionJob", "Executor"]
