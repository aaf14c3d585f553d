"""The coordinator: jobs, projects, payment keys and results, in SQLModel (SQLite or PostgreSQL).

Public surface: its gRPC API (to come with the mesh) and, for in-repo callers, :class:`JobQueue`.
"""

from services.coordinator.queue import JobQueue, JobSpec, LeasedJob

__all__ = ["JobQueue", "JobSpec", "LeasedJob"]
