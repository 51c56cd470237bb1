"""The base of the custom resources' models, and parsing raw JSON into them with the API server's messages.

:class:`KubeModel` is immutable, camelCase on the wire and rejects unknown fields; :class:`ListSet` and
:class:`ListMap` mark ``x-kubernetes-list-type`` lists (and enforce their uniqueness, as the API server
does). :func:`parse_model` validates with JSON semantics in strict mode and raises one
:class:`~federation_operator.domain.errors.InvalidSpecError` naming every failing field path.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    ValidationError,
)
from pydantic.alias_generators import to_camel, to_snake
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import ErrorDetails, core_schema

from federation_operator.domain.errors import InvalidSpecError

__all__ = ["KubeModel", "ListMap", "ListSet", "parse_model"]


class KubeModel(BaseModel):
    """Base of the resource models: immutable, camelCase on the wire, unknown fields rejected."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        serialize_by_alias=True,
    )


@dataclass(frozen=True)
class ListSet:
    """Annotation for ``x-kubernetes-list-type: set``: a list of unique scalars.

    The API server rejects duplicates in such lists, so the model does too; the marker also appears in the
    model's JSON schema so that the drift test can compare list types.
    """

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(_check_unique_items, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["x-kubernetes-list-type"] = "set"
        return json_schema


@dataclass(frozen=True, init=False)
class ListMap:
    """Annotation for ``x-kubernetes-list-type: map``: objects unique by the given key fields (wire names)."""

    keys: tuple[str, ...]
    # The keys' attribute names (snake_case), derived once: validation runs for every item of every list.
    attributes: tuple[str, ...]

    def __init__(self, *keys: str) -> None:
        object.__setattr__(self, "keys", keys)
        object.__setattr__(self, "attributes", tuple(to_snake(name) for name in keys))

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self._check_unique_keys, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["x-kubernetes-list-type"] = "map"
        json_schema["x-kubernetes-list-map-keys"] = list(self.keys)
        return json_schema

    def _check_unique_keys(self, items: tuple[BaseModel, ...]) -> tuple[BaseModel, ...]:
        if len(items) < 2:
            return items  # nothing to collide (most lists: validated on every status read)
        attributes = self.attributes
        if len(attributes) == 1:
            name = attributes[0]
            if len({getattr(item, name) for item in items}) == len(items):
                return items  # unique, as a rule: the loop below finds the first duplicate to name
        elif len({tuple([getattr(item, a) for a in attributes]) for item in items}) == len(items):
            return items
        seen: set[tuple[object, ...]] = set()
        for item in items:
            key = tuple([getattr(item, name) for name in attributes])
            if key in seen:
                described = ", ".join(f"{name}={value!r}" for name, value in zip(self.keys, key, strict=True))
                raise ValueError(f"duplicate entry with {described}")
            seen.add(key)
        return items


def _check_unique_items(items: tuple[object, ...]) -> tuple[object, ...]:
    if len(items) < 2 or len(set(items)) == len(items):
        return items
    duplicates = sorted(repr(item) for item, count in Counter(items).items() if count > 1)
    if duplicates:
        raise ValueError(f"duplicate entries: {', '.join(duplicates)}")
    return items


ModelT = TypeVar("ModelT", bound=BaseModel)


def parse_model(model: type[ModelT], raw: Mapping[str, Any], *, root: str = "spec") -> ModelT:
    """Validate ``raw`` (the JSON of ``root``) as ``model``, raising :class:`InvalidSpecError` on failure.

    Validation uses JSON semantics in strict mode, like the API server: ``"10"`` is not an integer.
    """
    try:
        document = json.dumps(raw, default=_plain_mapping)
    except (TypeError, ValueError) as exc:
        raise InvalidSpecError(((root, f"not a JSON object: {exc}"),)) from exc
    try:
        return model.model_validate_json(document, strict=True)
    except ValidationError as exc:
        raise InvalidSpecError(
            tuple((_field_path(root, error["loc"]), _describe(error)) for error in exc.errors())
        ) from exc


def _plain_mapping(value: object) -> dict[str, Any]:
    # kopf hands specs over as read-only Mapping views, which json cannot serialise as they are.
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _field_path(root: str, loc: tuple[int | str, ...]) -> str:
    path = root
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


_TYPE_NAMES = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "string_type": "a string",
    "bool_type": "a boolean",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
    "list_type": "a list",
    "tuple_type": "a list",
}


# pydantic's error types, in the API server's words: a template over the error's context, or a fixed text.
_MESSAGES = {
    "missing": "Required value",
    "extra_forbidden": "unknown field",
    "greater_than_equal": "must be >= {ge}",
    "less_than_equal": "must be <= {le}",
    "literal_error": "must be one of {expected}",
    "string_pattern_mismatch": "must match {pattern}",
    "string_too_short": "must be at least {min_length} characters",
    "string_too_long": "must be at most {max_length} characters",
    "too_short": "must have at least {min_length} items",
    "too_long": "must have at most {max_length} items",
    **{kind: f"must be {name}" for kind, name in _TYPE_NAMES.items()},
}


def _describe(error: ErrorDetails) -> str:
    """A short message in the API server's words rather than pydantic's."""
    ctx = error.get("ctx", {})
    if error["type"] == "value_error":
        return str(ctx.get("error", error["msg"]))
    template = _MESSAGES.get(error["type"])
    return template.format(**ctx) if template is not None else error["msg"]
