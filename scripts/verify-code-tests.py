#!/usr/bin/env python3
"""A ponder verifier command that scores a code answer by running unit tests on it.

    ponder run -s prm-vote@8 --verifier-command scripts/verify-code-tests.py \
        --verifier-arg --timeout --verifier-arg 10 \
        --verifier-arg -- --verifier-arg python3 --verifier-arg /path/to/test_solution.py \
        "Write a Python function add(a, b) ..."

ponder writes {"question", "solution", "steps"} as JSON on stdin. This script takes the
code from the solution (its last ``` fenced block, or the whole text when there is
none), writes it to a fresh temporary directory as solution.py (--file), writes the
question beside it as question.txt, and runs the test command given after "--" in that
directory, without a shell, with SOLUTION_FILE and QUESTION_FILE in its environment
(a test command can pick a question's tests from QUESTION_FILE). It prints
{"score": 1} when the tests pass (exit status 0) and {"score": 0} when they fail or
overrun --timeout (their whole process group is killed). Its own failures (bad input,
a test command that cannot start) exit with status 2 and a message on stderr, which
ponder reports as the question's error.

It needs no network and uses only the standard library. It does not sandbox the code:
run untrusted solutions inside a container or a VM without network.
"""

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile

FENCE = re.compile(r"```[^\n`]*\n(.*?)```", re.DOTALL)


def code_of(solution: str) -> str:
    blocks = FENCE.findall(solution)
    return blocks[-1] if blocks else solution


def run_tests(command, directory, env, timeout):
    """True when the tests pass; False when they fail or overrun the timeout."""
    process = subprocess.Popen(command, cwd=directory, env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    try:
        return process.wait(timeout=timeout) == 0
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds the tests may take (default 10)")
    parser.add_argument("--file", default="solution.py", help="the code's file name (default solution.py)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the test command and its arguments")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the test command after --")
    if not args.timeout > 0:
        parser.error("--timeout must be > 0")
    if os.path.basename(args.file) != args.file or args.file in ("", ".", ".."):
        parser.error("--file must be a plain file name")

    try:
        request = json.load(sys.stdin)
        question, solution = request["question"], request["solution"]
        if not isinstance(question, str) or not isinstance(solution, str):
            raise ValueError("question and solution must be strings")
    except (ValueError, KeyError, TypeError) as e:
        print(f"verify-code-tests: bad request: {e}", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory(prefix="ponder-verify-") as directory:
        code_path = os.path.join(directory, args.file)
        question_path = os.path.join(directory, "question.txt")
        with open(code_path, "w", encoding="utf-8") as f:
            f.write(code_of(solution))
        with open(question_path, "w", encoding="utf-8") as f:
            f.write(question)
        env = dict(os.environ, SOLUTION_FILE=code_path, QUESTION_FILE=question_path)
        try:
            passed = run_tests(command, directory, env, args.timeout)
        except OSError as e:
            print(f"verify-code-tests: cannot run {command[0]}: {e}", file=sys.stderr)
            return 2
    json.dump({"score": 1.0 if passed else 0.0}, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
