"""OpenAPI schema finishing: lists are documented in their {"results": [...]} envelope,
every operation documents the error shape, and every request
and response body carries an example (hand-written ones are kept; the rest are built from
the schema), so /api/docs/ shows a sample for each endpoint."""

from __future__ import annotations

from typing import Any

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {
        "type": "object",
        "required": ["code", "detail", "fields"],
        "properties": {
            "code": {"type": "string", "example": "invalid"},
            "detail": {"type": "string", "example": "text: A message cannot be empty."},
            "fields": {"type": "object", "additionalProperties": {
                "type": "array", "items": {"type": "string"}},
                "example": {"text": ["A message cannot be empty."]}},
        },
    }},
}
STRING_EXAMPLES = {"date-time": "2026-11-28T10:00:00Z", "date": "2026-11-28", "time": "22:00:00",
                   "uri": "https://chat.example.com/", "email": "ana@example.com",
                   "binary": "<bytes>"}
NAMED_EXAMPLES = {"text": "Ship it :rocket:", "name": "launch", "email": "ana@example.com",
                  "display_name": "Ana Lopez", "emoji": "👍", "html": "<p>Ship it 🚀</p>",
                  "topic": "Launch week", "client_msg_id": "6f1c7e0a-3a1b-4d2c-9b7e-1f2a3b4c5d6e"}


def _example(schema: dict[str, Any], components: dict[str, Any], name: str = "",
             depth: int = 0) -> Any:
    if depth > 6:
        return None
    if "$ref" in schema:
        ref = schema["$ref"].rsplit("/", 1)[-1]
        return _example(components.get(ref, {}), components, name, depth + 1)
    if "example" in schema:
        return schema["example"]
    for combinator in ("allOf", "oneOf", "anyOf"):
        if schema.get(combinator):
            merged: dict[str, Any] = {}
            for part in schema[combinator]:
                value = _example(part, components, name, depth + 1)
                if isinstance(value, dict):
                    merged.update(value)
                elif combinator != "allOf":
                    return value
            return merged
    if "enum" in schema:
        return next((v for v in schema["enum"] if v is not None), None)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return {key: _example(value, components, key, depth + 1)
                for key, value in schema.get("properties", {}).items()}
    if kind == "array":
        return [_example(schema.get("items", {}), components, name, depth + 1)]
    if kind == "integer":
        return 42
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return True
    if kind == "string":
        return STRING_EXAMPLES.get(schema.get("format", ""), NAMED_EXAMPLES.get(name, "string"))
    return None


def _envelope(media: dict[str, Any]) -> None:
    """Every list answers {"results": [...]} (with next/previous where cursor-paged)."""
    for content in media.values():
        schema = content.get("schema", {})
        if schema.get("type") == "array":
            content["schema"] = {"type": "object", "required": ["results"], "properties": {
                "results": schema,
                "next": {"type": "string", "format": "uri", "nullable": True},
                "previous": {"type": "string", "format": "uri", "nullable": True},
            }}


def _fill(media: dict[str, Any], components: dict[str, Any]) -> None:
    for content in media.values():
        if "example" not in content and "examples" not in content and "schema" in content:
            content["example"] = _example(content["schema"], components)


def finish_schema(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict:
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault("Error", ERROR_SCHEMA)
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            operation["responses"].setdefault("4XX", {
                "description": "The request was refused; the body names the problem.",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            })
            if "requestBody" in operation:
                _fill(operation["requestBody"].get("content", {}), components)
            for status, response in operation["responses"].items():
                if str(status).startswith("2"):
                    _envelope(response.get("content", {}))
                _fill(response.get("content", {}), components)
    return result
