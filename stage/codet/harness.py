# The CodeT harness: runs one solution and then each test in a namespace
# of its own, with a time limit per step, and reports which tests pass.
# "report" mode (the codet stage) reads {"solution", "tests", "limit"} as
# JSON on stdin and prints {"passed": [...], "error": ...} as its last
# line. "check" mode (the exported verifier) reads a reply on stdin, takes
# its first code block, runs the tests in $SYNTHLOOP_REFERENCE_FILE (one
# a line) and exits 0 only when every one passes.
import io, json, os, re, signal, sys

class _Timeout(BaseException):
    pass

def _alarm(*_):
    raise _Timeout()

signal.signal(signal.SIGALRM, _alarm)

def _step(code, name, g, limit):
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        exec(compile(code, name, "exec"), g)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)

def run(solution, tests, limit):
    out = sys.stdout
    sys.stdout = io.StringIO()  # what the solution prints is not our report
    try:
        g = {"__name__": "__solution__"}
        try:
            _step(solution, "solution.py", g, limit)
        except BaseException as e:
            return None, "solution: %s: %s" % (type(e).__name__, e)
        res = []
        for t in tests:
            try:
                _step(t, "test.py", dict(g), limit)
                res.append(True)
            except BaseException:
                res.append(False)
        return res, ""
    finally:
        sys.stdout = out

if sys.argv[1:] == ["check"]:
    reply = sys.stdin.read()
    m = re.search(r"```[A-Za-z0-9_+-]*[ \t]*\n(.*?)```", reply, re.S)
    code = m.group(1) if m else reply
    with open(os.environ["SYNTHLOOP_REFERENCE_FILE"]) as f:
        tests = [l for l in f.read().splitlines() if l.strip()]
    res, err = run(code, tests, 2.0)
    if res is None:
        print(err)
        sys.exit(1)
    failed = [t for t, ok in zip(tests, res) if not ok]
    if failed:
        print("%d of %d tests failed, first: %s" % (len(failed), len(tests), failed[0]))
        sys.exit(1)
    print("%d tests passed" % len(tests))
else:
    d = json.load(sys.stdin)
    res, err = run(d["solution"], d["tests"], float(d.get("limit", 2.0)))
    sys.stdout.write("\n" + json.dumps({"passed": res, "error": err}) + "\n")
