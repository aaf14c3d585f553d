"""Job origins for tests that submit jobs to the coordinator directly."""

from __future__ import annotations

from outlayer.v1 import coordinator_pb2 as pb


def https_call(call_id: str, **fields: str) -> pb.JobOrigin:
    return pb.JobOrigin(https=pb.HttpsCall(call_id=call_id, **fields))


def near_request(contract_id: str, request_id: int, **fields: str | int) -> pb.JobOrigin:
    return pb.JobOrigin(
        near=pb.NearRequest(contract_id=contract_id, request_id=request_id, **fields)  # type: ignore[arg-type]
    )
