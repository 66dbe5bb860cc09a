"""JSON Lines files for the scripts beside this one: a bad file is a clear error, not a traceback."""

import json
import sys


def fail(message):
    sys.exit(f"{sys.argv[0]}: {message}")


def rows(path):
    """Each non-empty line of `path` as a JSON object; exits naming the file and line otherwise."""
    try:
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as e:
                    fail(f"{path}:{number}: not JSON: {e.msg}")
                if not isinstance(row, dict):
                    fail(f"{path}:{number}: not a JSON object")
                yield number, row
    except OSError as e:
        fail(f"cannot read {path}: {e.strerror}")
    except UnicodeDecodeError:
        fail(f"{path}: not UTF-8 text")
