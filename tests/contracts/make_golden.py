"""Write the golden sample of every spec that has none yet (existing samples stay frozen).

    python -m tests.contracts.make_golden
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.contracts.samples import ALL_SPECS, golden_name, sample_message

GOLDEN = Path(__file__).parent / "golden"


def main() -> None:
    for spec in ALL_SPECS.values():
        path = GOLDEN / golden_name(spec)
        if path.exists():
            continue
        path.write_text(json.dumps(sample_message(spec), indent=2) + "\n", encoding="utf-8")
        print("wrote", path.name)


if __name__ == "__main__":
    main()
