"""The site file's JSON Schema, with each target's pool schema in place of the generic pool mapping."""

from __future__ import annotations

from typing import Any

from kprov.site.model import Site
from kprov.targets import registry


def site_schema() -> dict[str, Any]:
    schema = Site.model_json_schema(by_alias=True)
    defs = schema.setdefault("$defs", {})
    options = []
    for target in registry().values():
        pool = target.pool_model.model_json_schema(ref_template="#/$defs/{model}")
        defs.update(pool.pop("$defs", {}))
        name = f"{target.pool_model.__name__}"
        defs[name] = pool
        options.append({"$ref": f"#/$defs/{name}"})
    pool_schema = {"anyOf": options} if len(options) > 1 else options[0]
    pools = schema["properties"]["pools"]
    for pattern in pools.get("patternProperties", {}):  # pool names are DNS labels: keys are constrained
        pools["patternProperties"][pattern] = pool_schema
    pools["additionalProperties"] = False
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "kprov site file (kprov.io/v1alpha1)"
    return schema
