"""Routes from ``google.api.http`` rules: each annotated method becomes a verb and a path."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from google.api import annotations_pb2
from google.protobuf import descriptor, message_factory

VERBS = ("get", "post", "put", "delete", "patch")


@dataclass(frozen=True)
class Route:
    verb: str
    template: str
    pattern: re.Pattern[str]
    body: str  # "*" (the whole JSON body is the request) or "" (no body)
    grpc_path: str  # /package.Service/Method
    method: descriptor.MethodDescriptor
    request_class: Any
    response_class: Any


def routes_for(service: descriptor.ServiceDescriptor) -> list[Route]:
    found = []
    for method in service.methods:
        rule = method.GetOptions().Extensions[annotations_pb2.http]
        for verb in VERBS:
            template = getattr(rule, verb)
            if template:
                found.append(Route(
                    verb=verb.upper(), template=template, pattern=_compile(template),
                    body=rule.body, grpc_path=f"/{service.full_name}/{method.name}", method=method,
                    request_class=message_factory.GetMessageClass(method.input_type),
                    response_class=message_factory.GetMessageClass(method.output_type),
                ))  # fmt: skip
    return found


def _compile(template: str) -> re.Pattern[str]:
    regex = re.sub(
        r"\{(\w+)\}", r"(?P<\1>[^/]+)", re.escape(template).replace(r"\{", "{").replace(r"\}", "}")
    )
    return re.compile(f"^{regex}$")


def match(routes: list[Route], verb: str, path: str) -> tuple[Route, dict[str, str]] | None:
    for route in routes:
        if route.verb == verb:
            found = route.pattern.match(path)
            if found:
                return route, found.groupdict()
    return None


def query_fields(route: Route) -> list[str]:
    """The request's top-level scalar fields a GET-style route (no body) takes from its query
    string (grpc-gateway's rule): those not bound by the path."""
    if route.body == "*":
        return []
    return [
        f.name
        for f in route.method.input_type.fields
        if f.name not in route.pattern.groupindex and f.message_type is None and not f.is_repeated
    ]
