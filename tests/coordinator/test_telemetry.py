"""One trace follows a request from its submitter through the coordinator to the executor that
runs it, across the job queue; job metrics are recorded."""

from __future__ import annotations

from pathlib import Path

import grpc
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import Engine

from outlayer.config import Settings
from outlayer.telemetry import instrument
from outlayer.v1 import coordinator_pb2 as pb
from outlayer.v1 import coordinator_pb2_grpc
from outlayer.wasmstore import WasmStore
from services.coordinator.service import build_server
from services.coordinator.workers import register_worker
from services.executor import Executor
from services.executor.runner import JobRunner
from tests.conftest import wat_guest
from tests.origins import https_call

SPANS = InMemorySpanExporter()
METRICS = InMemoryMetricReader()
_provider = TracerProvider()
_provider.add_span_processor(SimpleSpanProcessor(SPANS))
trace.set_tracer_provider(_provider)
metrics.set_meter_provider(MeterProvider(metric_readers=[METRICS]))


def test_one_trace_from_submitter_to_executor(
    engine: Engine, settings: Settings, executor: Executor, tmp_path: Path
) -> None:
    server, port = build_server(settings, engine, "127.0.0.1:0")
    server.start()
    store = WasmStore(tmp_path / "wasm")
    try:
        channel = instrument(grpc.insecure_channel(f"127.0.0.1:{port}"))
        stub = coordinator_pb2_grpc.CoordinatorServiceStub(channel)
        spec = pb.JobSpec(origin=https_call("traced"), wasm_sha256=store.put(wat_guest("hello")))
        with trace.get_tracer("test").start_as_current_span("edge.call") as root:
            stub.SubmitJob(pb.SubmitJobRequest(spec=spec))
        runner = JobRunner(executor, channel, register_worker(engine, "w"), store)
        outcome = runner.run_once()
        assert outcome is not None and outcome.result.ok
    finally:
        server.stop(grace=None)

    trace_id = root.get_span_context().trace_id
    in_trace = {span.name for span in SPANS.get_finished_spans()
                if span.context is not None and span.context.trace_id == trace_id}  # fmt: skip
    assert "edge.call" in in_trace
    assert "/outlayer.v1.CoordinatorService/SubmitJob" in in_trace
    assert "outlayer.job.execute" in in_trace  # the executor continued the submitter's trace
    assert "/outlayer.v1.CoordinatorService/CompleteJob" in in_trace

    data = METRICS.get_metrics_data()
    assert data is not None
    names = {metric.name for rm in data.resource_metrics for sm in rm.scope_metrics
             for metric in sm.metrics}  # fmt: skip
    assert {"outlayer.jobs.submitted", "outlayer.jobs.finished", "outlayer.job.instructions",
            "outlayer.jobs"} <= names  # fmt: skip
