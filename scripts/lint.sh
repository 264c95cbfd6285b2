#!/usr/bin/env bash
# Lint the repository with the ruff pinned in requirements-test.txt (settings: [tool.ruff] in
# pyproject.toml): `ruff check` and `ruff format --check`. Exit status 1 when either fails.
#   scripts/lint.sh          check only (what .ci/run does before the tests)
#   scripts/lint.sh --fix    ruff format, then ruff check --fix
# ruff lives in the bench's Python (scripts/setup.sh installs requirements-test.txt there);
# this script installs the pinned version there when it is missing or another.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ensure_pinned_tool ruff
want="$(pinned_version ruff)"
ruff="$BENCH_DIR/env/bin/ruff"

cd "$REPO_DIR"
if [ "${1:-}" = "--fix" ]; then
	"$ruff" format --no-cache .
	"$ruff" check --no-cache --fix .
	exit $?
fi
status=0
log "ruff $want: check"
"$ruff" check --no-cache --output-format concise . || status=1
log "ruff $want: format --check"
"$ruff" format --no-cache --check --output-format concise . || status=1
[ "$status" -eq 0 ] || printf '\033[1;31mLint failed:\033[0m scripts/lint.sh --fix applies what can be fixed automatically.\n' >&2
exit "$status"
