#!/usr/bin/env bash
# Run the whole test suite against the bench's test site (created / updated first, fast when
# it exists). Extra arguments go to pytest, e.g. scripts/test.sh -k permissions -x
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

"$REPO_DIR/scripts/setup.sh" --test-only
log "Running tests on $TEST_SITE"
# Frappe logs to ../logs relative to the working directory, so tests run from sites/; paths like
# tests/test_engine.py are taken relative to the app's copy in the bench.
app="$BENCH_DIR/apps/$APP_NAME"
args=()
has_path=0
for arg in "$@"; do
	case "$arg" in
		tests|tests/*) args+=("$app/$arg"); has_path=1 ;;
		*) args+=("$arg") ;;
	esac
done
[ "$has_path" -eq 1 ] || args+=("$app/tests")
cd "$BENCH_DIR/sites"
as_frappe env MF_TEST_SITE="$TEST_SITE" MF_BENCH_DIR="$BENCH_DIR" MF_BENCH_CLI="$BENCH_CLI/bin/bench" \
	MF_CHROMIUM="$CHROMIUM" "$BENCH_DIR/env/bin/python" -m pytest --rootdir "$app" -c "$app/pyproject.toml" "${args[@]}"
