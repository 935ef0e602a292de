#!/usr/bin/env bash
# Set up (a virtual environment with everything installed) and run a job:
#   ./run.sh demo   train and evaluate every registered method on the generated `demo` task (`demo` schedule,
#                   CPU, a few minutes, no download), write the report and print the demo's table
#   ./run.sh test   run the test suite on every core (arguments go to pytest, e.g. -m "not slow")
#   ./run.sh setup  only set up
set -euo pipefail
cd "$(dirname "$0")"
VENV="${HARNESS_VENV:-.venv}"
PYTHON="${PYTHON:-python3}"

setup() {
    if [ ! -x "$VENV/bin/python" ]; then
        "$PYTHON" -m venv "$VENV"
    fi
    # Reinstall only when the dependency list changed.
    local stamp="$VENV/.harness-installed"
    local want
    want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        "$VENV/bin/python" -m pip install --quiet --upgrade pip
        "$VENV/bin/python" -m pip install --quiet -e '.[test]'
        echo "$want" > "$stamp"
    fi
}

# The report tests render pages in headless Chromium; install it where missing and possible (root with
# apt), never failing here: without it those tests are skipped and say why.
browser_for_tests() {
    if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then return 0; fi
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
            || echo "note: could not install chromium; the browser checks of the report will be skipped" >&2
    else
        echo "note: chromium not found (apt-get install chromium); the browser checks of the report will be skipped" >&2
    fi
}

case "${1:-}" in
    setup) setup ;;
    demo)
        setup
        # One torch thread per run unless told otherwise: the demo's 32-px networks gain nothing from a
        # second thread, so the runs go side by side instead, one per core (--jobs; the results are those of
        # one run after another). DEMO_JOBS=1 runs them one at a time in one process.
        # The cores, counted before OMP_NUM_THREADS is set: GNU nproc reports OMP_NUM_THREADS when it is set
        # (1 here), which would run the demo one run at a time.
        DEMO_JOBS="${DEMO_JOBS:-$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc 2>/dev/null || echo 2)}"
        export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
        # Only the demo's own results and table: results of other tasks or schedules never fail it,
        # and the committed leaderboards/ are left as they are.
        "$VENV/bin/harness" run --task demo --methods all --schedule demo --device cpu --discard-checkpoints \
            --jobs "$DEMO_JOBS"
        "$VENV/bin/harness" leaderboard --only demo --schedule demo --out results/leaderboards-demo
        # The demo's claims (harness/claims/paper/demo.yaml): verdicts and their evidence, from the same results
        "$VENV/bin/harness" claims --only demo --out results/leaderboards-demo
        "$VENV/bin/harness" report --results results --out report  # prints: report -> report/index.html
        # The demo ends with its table (fits 120 columns, best first) and where to look next.
        COLUMNS="${COLUMNS:-120}" "$VENV/bin/harness" results --results results --task demo --schedule demo \
            --report report/index.html
        ;;
    test)
        setup
        shift
        browser_for_tests
        export TQDM_DISABLE=1
        # One test process per core (pytest-xdist), each with one torch thread: together they use every
        # core without oversubscribing it. All tests of a file run on one worker (--dist loadfile), so a
        # module's shared fixtures (trained runs) are built once; the many small hostile-input cases are
        # spread one by one and run last (tests/conftest.py). The 15 slowest tests are listed at
        # the end so the next slow one is seen. Extra arguments go to pytest: `./run.sh test -m "not slow"`
        # is the quick loop, `./run.sh test -n 0 tests/test_x.py` one file in one process.
        export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
        "$VENV/bin/python" -m pytest -q -n auto --dist loadfile --durations=15 "$@"
        ;;
    *)
        echo "usage: ./run.sh demo|test|setup" >&2
        exit 2
        ;;
esac
