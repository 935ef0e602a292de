#!/usr/bin/env bash
# Set up (a virtual environment with everything installed) and run a job:
#   ./run.sh demo   train and evaluate every registered method on the generated `demo` task (smoke schedule, CPU)
#   ./run.sh test   run the test suite
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

case "${1:-}" in
    setup) setup ;;
    demo)
        setup
        "$VENV/bin/harness" run --task demo --methods all --schedule smoke --device cpu --discard-checkpoints
        if "$VENV/bin/harness" leaderboard --help >/dev/null 2>&1; then "$VENV/bin/harness" leaderboard; fi
        ;;
    test)
        setup
        shift
        export TQDM_DISABLE=1
        "$VENV/bin/python" -m pytest -q "$@"
        ;;
    *)
        echo "usage: ./run.sh demo|test|setup" >&2
        exit 2
        ;;
esac
