"""The OpenAPI document, derived from the same rules and the messages' descriptors."""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor

from services.edge.routes import Route

_SCALARS = {
    descriptor.FieldDescriptor.TYPE_STRING: {"type": "string"},
    descriptor.FieldDescriptor.TYPE_BYTES: {"type": "string", "format": "byte"},
    descriptor.FieldDescriptor.TYPE_BOOL: {"type": "boolean"},
    descriptor.FieldDescriptor.TYPE_DOUBLE: {"type": "number"},
    descriptor.FieldDescriptor.TYPE_FLOAT: {"type": "number"},
    descriptor.FieldDescriptor.TYPE_INT32: {"type": "integer"},
    descriptor.FieldDescriptor.TYPE_UINT32: {"type": "integer"},
    # 64-bit integers are strings in protobuf's JSON mapping
    descriptor.FieldDescriptor.TYPE_INT64: {"type": "string", "format": "int64"},
    descriptor.FieldDescriptor.TYPE_UINT64: {"type": "string", "format": "uint64"},
}
HEADERS = ("X-Payment-Key", "X-Attached-Deposit", "X-Admin-Token")


def document(routes: list[Route], title: str = "OutLayer") -> dict[str, Any]:
    schemas: dict[str, Any] = {}
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
                {"name": h, "in": "header", "required": False, "schema": {"type": "string"}}
                for h in HEADERS
            ],
            "responses": {
                "200": {"description": "OK", "content": {"application/json": {
                    "schema": {"$ref": f"#/components/schemas/{route.method.output_type.name}"}}}},
                "default": {"description": "an error", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Error"}}}},
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
    schemas["Error"] = {"type": "object", "properties": {"code": text, "message": text}}
    return {"openapi": "3.0.3", "info": {"title": title, "version": "v1"}, "paths": paths,
            "components": {"schemas": schemas}}  # fmt: skip


def _schema(message: descriptor.Descriptor, schemas: dict[str, Any]) -> dict[str, Any]:
    if message.name in schemas:
        return {"$ref": f"#/components/schemas/{message.name}"}
    schemas[message.name] = {"type": "object"}
    properties: dict[str, Any] = {}
    for field in message.fields:
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value = field.message_type.fields_by_name["value"]
            kind = _field(value, schemas)
            properties[field.name] = {"type": "object", "additionalProperties": kind}
            continue
        kind = _field(field, schemas)
        properties[field.name] = {"type": "array", "items": kind} if _repeated(field) else kind
    schemas[message.name] = {"type": "object", "properties": properties}
    return {"$ref": f"#/components/schemas/{message.name}"}


def _repeated(field: descriptor.FieldDescriptor) -> bool:
    return bool(field.is_repeated)


def _field(field: descriptor.FieldDescriptor, schemas: dict[str, Any]) -> dict[str, Any]:
    if field.enum_type is not None:
        return {"type": "string", "enum": [v.name for v in field.enum_type.values]}
    if field.message_type is not None:
        return _schema(field.message_type, schemas)
    return dict(_SCALARS.get(field.type, {"type": "string"}))
