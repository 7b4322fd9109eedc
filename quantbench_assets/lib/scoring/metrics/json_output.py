"""JSON output metrics: parse rate, extraneous text, schema compliance, field completeness, key
accuracy, and all of them for one output (`json_reliability`)."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from .failures import NO_JSON, extract_json, worst
from .value import MetricValue, fold_text


def json_parse(text: str) -> MetricValue:
    obj, _ = extract_json(text)
    return MetricValue(float(obj is not None))


def parse_rate(texts: Sequence[str]) -> MetricValue:
    if not texts:
        return MetricValue.null("no outputs")
    ok = sum(extract_json(t)[0] is not None for t in texts)
    return MetricValue(ok / len(texts), detail={"parsed": ok, "n": len(texts)})


def extraneous_output(text: str) -> MetricValue:
    obj, flag = extract_json(text)
    if obj is None:
        return worst("json_extraneous", NO_JSON)  # nothing but text that is not the JSON asked for
    return MetricValue(float(bool(flag)))


def schema_compliance(obj: Any | None, schema: Mapping[str, Any]) -> MetricValue:
    """1.0 when `obj` validates against `schema` (jsonschema, the schema's own draft), else 0.0 (an
    output that did not parse included: it is a failure, not a skipped row)."""
    if obj is None:
        return worst("json_schema_compliance", NO_JSON)
    from jsonschema.validators import validator_for

    cls = validator_for(schema)
    errors = sorted(cls(schema).iter_errors(obj), key=lambda e: list(e.path))
    return MetricValue(float(not errors), detail={"errors": [f"{'/'.join(map(str, e.path))}: {e.message}"
                                                             for e in errors[:10]]})


def _empty(v: Any) -> bool:
    return v is None or (isinstance(v, (str, list, dict)) and not (v.strip() if isinstance(v, str) else v))


def _not_an_object(obj: Any | None, metric: str) -> MetricValue | None:
    """The worst score when the output has no JSON or its JSON is not an object; None for an object."""
    if obj is None:
        return worst(metric, NO_JSON)
    if not isinstance(obj, dict):
        return worst(metric, "JSON value is not an object")
    return None


def field_completeness(obj: Any | None, fields: Sequence[str]) -> MetricValue:
    """Share of `fields` present in `obj` with a non-empty value (null, "", [] and {} are empty); an
    output with no JSON object has none of them (0.0)."""
    if (bad := _not_an_object(obj, "json_field_completeness")) is not None:
        return bad
    if not fields:
        return MetricValue.null("no fields to check")
    missing = [f for f in fields if _empty(obj.get(f))]
    return MetricValue(1 - len(missing) / len(fields), detail={"missing_or_empty": missing})


def _same(got: Any, want: Any) -> bool:
    if isinstance(want, bool) or isinstance(got, bool):
        return got is want
    if isinstance(want, str) and isinstance(got, str):
        return fold_text(got) == fold_text(want)
    return got == want


def key_accuracy(obj: Any | None, expected: Mapping[str, Any]) -> MetricValue:
    """Share of `expected` fields whose value in `obj` equals the expected one (strings compared
    case-, accent- and whitespace-insensitively; booleans exactly). No JSON object: none right (0.0)."""
    if (bad := _not_an_object(obj, "json_key_accuracy")) is not None:
        return bad
    if not expected:
        return MetricValue.null("no expected fields")
    wrong = [k for k, v in expected.items() if not _same(obj.get(k), v)]
    return MetricValue(1 - len(wrong) / len(expected), detail={"wrong": wrong})


def json_reliability(text: str, schema: Mapping[str, Any], *, required: Sequence[str] | None = None,
                     expected: Mapping[str, Any] | None = None) -> dict[str, MetricValue]:
    """All JSON metrics for one output. `required` defaults to the schema's `required` list;
    `expected` (field -> value) enables key accuracy."""
    obj, _ = extract_json(text)
    out = {
        "json_parse": MetricValue(float(obj is not None)),
        "json_extraneous": extraneous_output(text),
        "json_schema_compliance": schema_compliance(obj, schema),
        "json_field_completeness": field_completeness(obj, list(required if required is not None
                                                                else schema.get("required", []))),
    }
    out["json_key_accuracy"] = (key_accuracy(obj, expected) if expected is not None
                                else MetricValue.null("no expected values for this item"))
    return out
