"""Write the golden sample of every spec, and of every request's reply, that has none yet
(existing samples stay frozen).

    python -m tests.contracts.make_golden
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.contracts.samples import (
    ALL_SPECS,
    golden_name,
    reply_golden_name,
    sample_message,
    sample_reply,
)

GOLDEN = Path(__file__).parent / "golden"


def main() -> None:
    for spec in ALL_SPECS.values():
        samples = [(golden_name(spec), sample_message)]
        if spec.is_request and spec.reply is not None:
            samples.append((reply_golden_name(spec), sample_reply))
        for name, make in samples:
            path = GOLDEN / name
            if path.exists():
                continue
            path.write_text(json.dumps(make(spec), indent=2) + "\n", encoding="utf-8")
            print("wrote", path.name)


if __name__ == "__main__":
    main()
