"""Write a JSON Schema for every protocol message into docs/protocol/ (``python -m loa.schemas``).

tests/test_protocol.py checks the committed files are current.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from loa import protocol

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "docs" / "protocol"


def _named() -> dict[str, type[BaseModel]]:
    out: dict[str, type[BaseModel]] = {
        "command": protocol.Command,
        "zone_command": protocol.ZoneCommand,
        "report": protocol.Report,
        "state": protocol.State,
        "telemetry": protocol.Telemetry,
    }
    for name, model in protocol.COMMAND_BODIES.items():
        out[f"cmd.{name}"] = model
    for name, model in protocol.REPORT_BODIES.items():
        out[f"report.{name}"] = model
    return out


def all_schemas() -> dict[str, dict[str, Any]]:
    schemas = {}
    for name, model in _named().items():
        schema = model.model_json_schema(mode="serialization")
        schema["$id"] = f"https://loa.example/protocol/v1/{name}.schema.json"
        schemas[f"{name}.schema.json"] = schema
    return schemas


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def write(directory: Path = SCHEMA_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for filename, schema in all_schemas().items():
        path = directory / filename
        path.write_text(render(schema), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for p in write():
        print(p, file=sys.stderr)
