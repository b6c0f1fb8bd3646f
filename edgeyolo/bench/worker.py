"""Worker process: ``python -m edgeyolo.bench.worker SPEC.json RECORD.json`` measures one candidate."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from edgeyolo._io import write_json_atomic
from edgeyolo.bench.measure import CandidateSpec, measure


def main(argv: list[str]) -> int:
    spec = CandidateSpec(**json.loads(Path(argv[0]).read_text()))
    write_json_atomic(argv[1], measure(spec))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
