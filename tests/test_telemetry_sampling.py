"""A service with nowhere to export traces records none of its own, but still records a trace
another service started and sampled (so end-to-end traces stay whole); one that exports records
its own. Each case in a fresh interpreter: a process configures its telemetry once."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PROBE = """
import json, sys
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from outlayer.config import TelemetrySettings
from outlayer.telemetry import configure
configure("probe", TelemetrySettings(console=sys.argv[1] == "console"))
tracer = trace.get_tracer("probe")
with tracer.start_as_current_span("own") as own:
    mine = own.is_recording()
parent = SpanContext(trace_id=1, span_id=2, is_remote=True, trace_flags=TraceFlags(1))
context = trace.set_span_in_context(NonRecordingSpan(parent))
with tracer.start_as_current_span("child", context=context) as child:
    theirs = child.is_recording() and child.get_span_context().trace_id == 1
print("ANSWER " + json.dumps({"own": mine, "sampled_parent": theirs}), file=sys.stderr)
"""


@pytest.mark.parametrize(("mode", "own"), [("none", False), ("console", True)])
def test_a_service_records_its_own_traces_only_when_it_exports_them(mode: str, own: bool) -> None:
    done = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True,
                          timeout=60, check=True)  # fmt: skip
    line = next(x for x in done.stderr.splitlines() if x.startswith("ANSWER "))
    answer = json.loads(line.removeprefix("ANSWER "))
    assert answer == {"own": own, "sampled_parent": True}
