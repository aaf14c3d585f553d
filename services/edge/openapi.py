"""The OpenAPI document, derived from the same rules and the messages' descriptors.

It describes what the edge actually sends: protobuf's JSON mapping (64-bit integers as strings,
enums by name, fields with default values left out), except a call's ``result``, which is the one
result shape (:meth:`outlayer.result.ExecutionResult.to_json`) rather than the protobuf message.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor

from outlayer.errors import ExecutionErrorType
from outlayer.result import ExecutionStatus
from services.edge.routes import Route, query_fields

_SCALARS: dict[int, dict[str, Any]] = {
    descriptor.FieldDescriptor.TYPE_STRING: {"type": "string"},
    descriptor.FieldDescriptor.TYPE_BYTES: {"type": "string", "format": "byte"},
    descriptor.FieldDescriptor.TYPE_BOOL: {"type": "boolean"},
    descriptor.FieldDescriptor.TYPE_DOUBLE: {"type": "number"},
    descriptor.FieldDescriptor.TYPE_FLOAT: {"type": "number"},
    descriptor.FieldDescriptor.TYPE_INT32: {"type": "integer", "format": "int32"},
    descriptor.FieldDescriptor.TYPE_UINT32: {
        "type": "integer", "format": "int64", "minimum": 0, "maximum": 2**32 - 1},
    # 64-bit integers are strings in protobuf's JSON mapping
    descriptor.FieldDescriptor.TYPE_INT64: {"type": "string", "format": "int64",
                                            "pattern": "^-?[0-9]{1,19}$"},
    descriptor.FieldDescriptor.TYPE_UINT64: {"type": "string", "format": "uint64",
                                             "pattern": "^[0-9]{1,20}$"},
}  # fmt: skip
HEADERS = ("X-Payment-Key", "X-Attached-Deposit", "X-Compute-Limit", "X-Admin-Token")
RESULT_SCHEMA = "ExecutionResultJson"
# Messages whose ``result`` field the edge renders as the one result shape.
RESULT_FIELDS = {"CallResponse": "result"}


def result_schema() -> dict[str, Any]:
    """The JSON shape of an ExecutionResult (``ExecutionResult.to_json``)."""
    integer = {"type": "integer", "minimum": 0}
    progress = {
        "type": "object",
        "required": ["estimated_seconds", "retry_after_seconds", "cache_key"],
        "properties": {
            "estimated_seconds": {"type": "number"},
            "retry_after_seconds": {"type": "number"},
            "cache_key": {"type": "string"},
        },
    }
    error = {
        "type": "object",
        "nullable": True,
        "required": ["type", "message"],
        "properties": {
            "type": {"type": "string", "enum": [t.value for t in ExecutionErrorType]},
            "message": {"type": "string"},
            "compilation": progress,
        },
    }
    return {
        "type": "object",
        "required": ["status", "output", "error", "resources_used", "logs", "exit_code",
                     "refund_usd"],
        "properties": {
            "status": {"type": "string", "enum": [s.value for s in ExecutionStatus]},
            # The guest's stdout: text, the parsed JSON value (any type), or base64 bytes.
            "output": {"nullable": True},
            "error": error,
            "resources_used": {
                "type": "object",
                "required": ["instructions", "time_ms", "memory_bytes"],
                "properties": {"instructions": integer, "time_ms": integer,
                               "memory_bytes": integer,
                               "compile_ms": integer,  # a build the call caused, when > 0
                               # what the guest asked of the platform (docs/guest-abi.md)
                               "capabilities": {"type": "object",
                                                "additionalProperties": integer}},
            },
            "logs": {"type": "string"},
            "exit_code": {"type": "integer", "nullable": True},
            "refund_usd": {"type": "string", "pattern": "^[0-9]+$"},
        },
    }  # fmt: skip


def document(routes: list[Route], title: str = "OutLayer") -> dict[str, Any]:
    schemas: dict[str, Any] = {RESULT_SCHEMA: result_schema()}
    paths: dict[str, Any] = {}
    for route in routes:
        _schema(route.method.input_type, schemas)
        _schema(route.method.output_type, schemas)
        operation: dict[str, Any] = {
            "operationId": route.method.name,
            "parameters": [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in route.pattern.groupindex
            ]
            + [
                {"name": name, "in": "query", "required": False,
                 "schema": _field(route.method.input_type.fields_by_name[name], schemas)}
                for name in query_fields(route)
            ]
            + [
                {"name": h, "in": "header", "required": False, "schema": {"type": "string"}}
                for h in HEADERS
            ],
            "responses": {
                "200": {"description": "OK", "content": {"application/json": {
                    "schema": {"$ref": f"#/components/schemas/{route.method.output_type.name}"}}}},
                **({"202": {"description": "Accepted (async): the result at poll_url",
                            "content": {"application/json": {"schema": {
                                "$ref": "#/components/schemas/CallResponse"}}}}}
                   if route.method.name == "Call" else {}),
                "default": {"description": 'an error: {"code", "message"}', "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
            },
        }  # fmt: skip
        if route.body == "*":
            ref = {"$ref": f"#/components/schemas/{route.method.input_type.name}"}
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref}},
            }
        paths.setdefault(route.template, {})[route.verb.lower()] = operation
    text = {"type": "string"}
    schemas["Error"] = {"type": "object", "required": ["code", "message"],
                        "properties": {"code": text, "message": text}}  # fmt: skip
    return {"openapi": "3.0.3", "info": {"title": title, "version": "v1"}, "paths": paths,
            "components": {"schemas": schemas}}  # fmt: skip


def _schema(message: descriptor.Descriptor, schemas: dict[str, Any]) -> dict[str, Any]:
    if message.name in schemas:
        return {"$ref": f"#/components/schemas/{message.name}"}
    schemas[message.name] = {"type": "object"}
    properties: dict[str, Any] = {}
    for field in message.fields:
        if RESULT_FIELDS.get(message.name) == field.name:
            properties[field.name] = {"$ref": f"#/components/schemas/{RESULT_SCHEMA}"}
            continue
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value = field.message_type.fields_by_name["value"]
            kind = _field(value, schemas)
            properties[field.name] = {"type": "object", "additionalProperties": kind}
            continue
        kind = _field(field, schemas)
        properties[field.name] = {"type": "array", "items": kind} if _repeated(field) else kind
    schemas[message.name] = {"type": "object", "properties": properties,
                             "additionalProperties": False}  # fmt: skip
    return {"$ref": f"#/components/schemas/{message.name}"}


def _repeated(field: descriptor.FieldDescriptor) -> bool:
    return bool(field.is_repeated)


def _field(field: descriptor.FieldDescriptor, schemas: dict[str, Any]) -> dict[str, Any]:
    if field.enum_type is not None:
        return {"type": "string", "enum": [v.name for v in field.enum_type.values]}
    if field.message_type is not None:
        return _schema(field.message_type, schemas)
    return dict(_SCALARS.get(field.type, {"type": "string"}))
