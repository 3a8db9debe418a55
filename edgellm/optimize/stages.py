"""The stage cache of ``edgellm optimize``: every stage's output under OUTPUT_DIR/.stages, named by a content hash.

A stage's key is the sha256 of its arguments and the sha256s of what it reads (input files, library versions,
the export it times), so a stage whose key exists is done and is skipped, and any change makes a new key. Outputs
land at once (an export folder is renamed into place, a bench report written to a temporary file and renamed), so
a run stopped by Ctrl-C leaves finished stages to the next run and nothing half-written.

    .stages/export-int8-3f2a9c1b0d4e5f60/     an ordinary export folder (edgellm.json, model.tflite, tokenizer)
    .stages/bench-int8-a1b2c3d4e5f60718.json   the BenchReport of that export (edgellm.bench/1)
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

STAGES = ".stages"


def stage_key(parts: dict[str, Any]) -> str:
    """sha256 (hex) of the stage's arguments and input hashes, as canonical JSON."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode("utf-8")).hexdigest()


class StageCache:
    """Where stages live, and which ran or were skipped in this run (``ran``, ``skipped``: "export[int8]")."""

    def __init__(self, output_dir: Path):
        self.root = Path(output_dir) / STAGES
        self.ran: list[str] = []
        self.skipped: list[str] = []

    def export_folder(self, recipe: str, key: str) -> Path:
        return self.root / f"export-{recipe}-{key[:16]}"

    def bench_file(self, recipe: str, key: str) -> Path:
        return self.root / f"bench-{recipe}-{key[:16]}.json"

    def mark(self, stage: str, recipe: str, *, done: bool) -> None:
        (self.skipped if done else self.ran).append(f"{stage}[{recipe}]")

    def read_json(self, file: Path) -> dict[str, Any] | None:
        """A finished stage's JSON output; None when the stage has not run (or its file is not readable JSON)."""
        try:
            doc = json.loads(file.read_text("utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return None
        return doc if isinstance(doc, dict) else None

    def write_json(self, file: Path, doc: dict[str, Any]) -> None:
        from edgellm.files import write_atomically

        file.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(file, json.dumps(doc, indent=2) + "\n")
