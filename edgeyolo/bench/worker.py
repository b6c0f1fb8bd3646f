"""Worker process: ``python -m edgeyolo.bench.worker SPEC.json RECORD.json`` measures one candidate."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from edgeyolo._io import write_json_atomic
from edgeyolo.bench.measure import CandidateSpec, measure
from edgeyolo.errors import EdgeYoloError


def main(argv: list[str]) -> int:
    spec = CandidateSpec(**json.loads(Path(argv[0]).read_text()))
    try:
        record = measure(spec)
    except EdgeYoloError as e:  # a problem with the candidate (its message names the fix), not a crash
        print(e, file=sys.stderr)
        return 1
    write_json_atomic(argv[1], record)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
