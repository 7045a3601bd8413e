"""Peak resident memory of one ``rdpflex`` command line, run as the only child of a fresh process.

    python tests/cli_peak_rss.py ARG...        runs ``python -m rdpflex.cli ARG...``

Prints one JSON line: the exit code, the child's peak RSS (``ru_maxrss`` of ``RUSAGE_CHILDREN``, MiB),
the seconds taken and the last line the command wrote on stderr. Used by ``tests/test_memory.py``.
"""

import json
import resource
import subprocess
import sys
import time


def main(args: list[str]) -> None:
    t = time.time()
    proc = subprocess.run([sys.executable, "-m", "rdpflex.cli", *args], capture_output=True, text=True)
    lines = proc.stderr.strip().splitlines()
    print(
        json.dumps(
            {
                "rc": proc.returncode,
                "peak_mib": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024),
                "seconds": round(time.time() - t, 1),
                "stderr": lines[-1] if lines else "",
                "stdout": proc.stdout.strip(),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1:])
