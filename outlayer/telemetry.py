"""OpenTelemetry for every service: one trace per request, across processes and the job queue.

gRPC calls carry the trace context in their metadata (the gRPC instrumentation); a job carries
its submitter's context in its spec (``trace_context``), so the executor that runs it, maybe
minutes later and on another machine, continues the same trace. Export is configured with
``telemetry.otlp_endpoint`` (OTLP/gRPC) and ``telemetry.console``; nothing is exported by default.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import grpc
from opentelemetry import metrics, propagate, trace
from opentelemetry.context import Context
from opentelemetry.instrumentation.grpc import client_interceptor, server_interceptor
from opentelemetry.instrumentation.grpc.grpcext import intercept_channel
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased

from outlayer.config import TelemetrySettings

_lock = threading.Lock()
_configured: set[str] = set()  # holds "done" once this process is configured


def configure(service: str, settings: TelemetrySettings) -> None:
    """Sets this process's tracer and meter providers (once; later calls do nothing)."""
    with _lock:
        if _configured:
            return
        _configured.add("done")
    # Services log what they do (a build started, a request queued) to stderr; never secrets.
    # log_level is ours ("outlayer.*"); libraries (httpx logs every request at INFO) say only
    # warnings.
    logging.basicConfig(
        level=logging.WARNING,
        format=f"%(asctime)s outlayer-{service} %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("outlayer").setLevel(settings.log_level)
    resource = Resource.create({"service.name": f"outlayer-{service}",
                                "service.namespace": "outlayer"})  # fmt: skip
    exporting = bool(settings.otlp_endpoint or settings.console)
    # With nothing to export to, this process starts no recorded traces of its own (a span
    # recorded for nobody costs a third of the executor's runner's CPU per job); it still
    # records a trace another service started and sampled, so end-to-end traces stay whole.
    sampler = ParentBased(ALWAYS_ON if exporting else ALWAYS_OFF)
    tracer_provider = TracerProvider(resource=resource, sampler=sampler)
    readers: list[MetricReader] = []
    interval_ms = settings.metric_interval_seconds * 1000
    if settings.otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        tracer_provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.otlp_endpoint, insecure=True))
        )
        readers.append(PeriodicExportingMetricReader(
            OTLPMetricExporter(endpoint=settings.otlp_endpoint, insecure=True),
            export_interval_millis=interval_ms,
        ))  # fmt: skip
    if settings.console:
        tracer_provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
        console_metrics = ConsoleMetricExporter()
        readers.append(
            PeriodicExportingMetricReader(console_metrics, export_interval_millis=interval_ms)
        )
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=readers))


def tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(name)


def meter(name: str) -> metrics.Meter:
    return metrics.get_meter(name)


def server_interceptors() -> list[Any]:
    return [server_interceptor()]  # type: ignore[no-untyped-call]


def instrument(channel: grpc.Channel) -> grpc.Channel:
    # OpenTelemetry's client interceptor speaks its own grpcext interface, not grpc's.
    return intercept_channel(channel, client_interceptor())  # type: ignore[no-untyped-call, no-any-return]


def inject_context() -> dict[str, str]:
    """The current trace context as W3C headers, to store with a job."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def extract_context(carrier: dict[str, Any]) -> Context:
    return propagate.extract(dict(carrier))
