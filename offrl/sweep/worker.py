"""One sweep run in a child process: ``python -m offrl.sweep.worker RUN.json OUTCOME.json``.

Started by :class:`offrl.sweep.backends.ProcessBackend`. Reads the run (kind + config), runs it with
:func:`offrl.sweep.backends.execute` and writes the :class:`~offrl.sweep.backends.Outcome` as JSON
(atomically). On SIGINT the run stops at the end of its current chunk with its checkpoints intact
and the outcome says ``interrupted`` (exit code 130).
"""

from __future__ import annotations

import json
import signal
import sys
import traceback
from pathlib import Path


def main(argv: list[str]) -> int:
    from offrl.logging import atomic_write_json
    from offrl.sweep.backends import Outcome, execute, from_payload

    # the launcher stops a run with SIGINT, also when it was itself started with SIGINT ignored
    # (nohup, `cmd &` in a script), which children would otherwise inherit
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if len(argv) != 2:
        print("usage: python -m offrl.sweep.worker RUN.json OUTCOME.json", file=sys.stderr)
        return 2
    data = json.loads(Path(argv[0]).read_text())
    run_id = data.get("config", {}).get("run_id", "?")
    code = 0
    try:
        kind, config = from_payload(data)
        outcome = execute(kind, config)
    except KeyboardInterrupt:
        outcome, code = Outcome(run_id, "interrupted"), 130
        print(f"{run_id}: interrupted; its checkpoints are kept and a rerun resumes it", flush=True)
    except Exception as e:  # noqa: BLE001 - e.g. an unreadable run description
        outcome = Outcome(run_id, "failed", error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc())
    if outcome.traceback:
        print(outcome.traceback, flush=True)
    atomic_write_json(Path(argv[1]), outcome.to_dict())
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
