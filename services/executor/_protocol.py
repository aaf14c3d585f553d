"""The wire format between the executor and its worker processes.

Parent → worker: one JSON header line, then the module bytes, then the input bytes (their sizes
are in the header). Worker → parent, on its stdout: JSON lines, ``ready``, then ``result`` (with
the compiled file it read or wrote, when the module was not preloaded: the pool asks the zygote
to preload it for later workers). On a separate status pipe, which the parent reads only when a
deadline passes (so that a run that ends in time wakes it once): ``started``, with the time the
run began on the monotonic clock, which is the same in every process of the machine.

During the run, a guest's host call (``_guest_abi``) is a ``host`` line on stdout, answered by
one JSON line on the worker's stdin (kept open for that when the job's header says ``host``).
Bytes inside a host request or answer travel as ``{"$b": base64}``.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import IO, Any

from outlayer.errors import ExecutionErrorType
from outlayer.limits import ResourceLimits
from services.executor._sandbox import RawOutcome, SandboxJob

READY, STARTED, RESULT, HOST = "ready", "started", "result", "host"


@dataclass(frozen=True)
class Event:
    kind: str
    outcome: RawOutcome | None = None
    path: str = ""  # RESULT: the compiled file the worker read or wrote ("" if preloaded)
    at: float = 0.0  # STARTED: time.monotonic() when the run began
    request: dict[str, Any] | None = None  # HOST: what the guest asked


def encode_job(job: SandboxJob, wasm: bytes, module_cache_dir: str, *, host: bool = False) -> bytes:
    """``host``: the parent answers host calls on the worker's stdin after the job."""
    header = {
        "host": host,
        "env": job.env,
        "limits": dict(vars(job.limits)),  # flat: no need for asdict's deep copy
        "max_output_bytes": job.max_output_bytes,
        "max_log_bytes": job.max_log_bytes,
        "module_cache_dir": module_cache_dir,
        "wasm_size": len(wasm),
        "input_size": len(job.input),
    }
    return json.dumps(header).encode() + b"\n" + wasm + job.input


def read_job(stream: IO[bytes]) -> tuple[SandboxJob, bytes, str, bool]:
    header = json.loads(stream.readline())
    wasm = _read_exact(stream, header["wasm_size"])
    data = _read_exact(stream, header["input_size"])
    job = SandboxJob(
        input=data,
        env=dict(header["env"]),
        limits=ResourceLimits(**header["limits"]),
        max_output_bytes=header["max_output_bytes"],
        max_log_bytes=header["max_log_bytes"],
    )
    return job, wasm, header["module_cache_dir"], bool(header.get("host"))


def encode_event(
    event: str, outcome: RawOutcome | None = None, path: str = "", at: float = 0.0
) -> bytes:
    message: dict[str, Any] = {"event": event}
    if outcome is not None:
        fields = dict(vars(outcome))  # flat fields: no need for asdict's deep copy
        fields["stdout"] = base64.b64encode(outcome.stdout).decode("ascii")
        fields["error_type"] = outcome.error_type.value if outcome.error_type else None
        message["outcome"] = fields
    if path:
        message["path"] = path
    if at:
        message["at"] = at
    return json.dumps(message).encode() + b"\n"


def decode_event(line: bytes) -> Event:
    message = json.loads(line)
    if message["event"] == HOST:
        return Event(HOST, request=_unpack(message["request"]))
    fields = message.get("outcome")
    if fields is None:
        return Event(message["event"], at=float(message.get("at", 0.0)))
    fields["stdout"] = base64.b64decode(fields["stdout"])
    kind = fields["error_type"]
    fields["error_type"] = ExecutionErrorType(kind) if kind else None
    return Event(message["event"], RawOutcome(**fields), path=message.get("path", ""))


def encode_host_request(request: dict[str, Any]) -> bytes:
    return json.dumps({"event": HOST, "request": _pack(request)}).encode() + b"\n"


def encode_host_answer(answer: dict[str, Any]) -> bytes:
    return json.dumps(_pack(answer)).encode() + b"\n"


def decode_host_answer(line: bytes) -> dict[str, Any]:
    answer: dict[str, Any] = _unpack(json.loads(line))
    return answer


def _pack(message: dict[str, Any]) -> dict[str, Any]:
    return {
        key: {"$b": base64.b64encode(value).decode("ascii")} if isinstance(value, bytes) else value
        for key, value in message.items()
    }


def _unpack(message: dict[str, Any]) -> dict[str, Any]:
    return {
        key: base64.b64decode(value["$b"]) if isinstance(value, dict) and "$b" in value else value
        for key, value in message.items()
    }


def _read_exact(stream: IO[bytes], size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise EOFError(f"job truncated: expected {size} bytes, got {len(data)}")
    return data
