"""A job's origin (a NEAR request or an HTTPS call) and the queue key derived from it.

The key is what makes a resubmission the same job: the indexer seeing a block twice, an HTTPS
client retrying with the same nonce. It is derived here only, never written by a submitter.
"""

from __future__ import annotations

from outlayer.errors import invalid_argument
from outlayer.repos import normalize_repo
from outlayer.v1 import coordinator_pb2 as pb

NEAR, HTTPS = "near", "https"
KINDS = frozenset({NEAR, HTTPS})
MAX_KEY_LENGTH = 300


def kind_of(origin: pb.JobOrigin) -> str:
    """``near`` or ``https``; a job with neither is refused."""
    which = origin.WhichOneof("origin")
    if which not in KINDS:
        raise invalid_argument("spec.origin must be a near request or an https call")
    return which


def job_key(origin: pb.JobOrigin) -> str:
    """The queue's dedupe key: ``near:<contract>:<request_id>`` or ``https:<call_id>``."""
    if kind_of(origin) == NEAR:
        near = origin.near
        if not near.contract_id:
            raise invalid_argument("spec.origin.near.contract_id is required")
        key = f"near:{near.contract_id}:{near.request_id}"
    else:
        if not origin.https.call_id:
            raise invalid_argument("spec.origin.https.call_id is required")
        key = f"https:{origin.https.call_id}"
    if len(key) > MAX_KEY_LENGTH:
        raise invalid_argument(f"spec.origin's identifiers are too long (at most "
                               f"{MAX_KEY_LENGTH} characters in all)")  # fmt: skip
    return key


def near_request_id(key: str, contract_id: str) -> int | None:
    """The request id of a NEAR job of ``contract_id`` from its key; None for any other job
    (an HTTPS call, another contract's request on a shared coordinator)."""
    prefix = f"near:{contract_id}:"
    tail = key[len(prefix) :] if key.startswith(prefix) else ""
    return int(tail) if tail.isdigit() else None


def store_of(spec: pb.JobSpec) -> tuple[str, str]:
    """(the guest storage a job reaches, its caller): an HTTPS call's project
    (``project:OWNER/NAME``, shared by every version of it), else the code's repository
    (``repo:URL``, normalised) or module (``module:SHA256``). The caller is the request's
    signer or the payment key's owner ("" when there is none)."""
    which = spec.origin.WhichOneof("origin")
    if which == HTTPS:
        call = spec.origin.https
        return f"project:{call.project_owner}/{call.project_name}", call.sender_id
    caller = spec.origin.near.sender_id if which == NEAR else ""
    if spec.code_source.repo:
        return f"repo:{normalize_repo(spec.code_source.repo)}", caller
    return f"module:{spec.wasm_sha256}", caller
