#!/usr/bin/env bash
# Type-check the engine and the API with the mypy pinned in requirements-test.txt (settings:
# [tool.mypy] in pyproject.toml). Exit status 1 when mypy reports an error.
#   scripts/typecheck.sh             what .ci/run does after the lint (the files of [tool.mypy])
#   scripts/typecheck.sh PATH ...    only these files or folders
# mypy lives in the bench's Python (scripts/setup.sh installs requirements-test.txt there);
# this script installs the pinned version there when it is missing or another. Frappe's source
# goes on MYPYPATH for its `frappe.types` (the DF field types of the controllers).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ensure_pinned_tool mypy
want="$(pinned_version mypy)"
mypy="$BENCH_DIR/env/bin/mypy"

cd "$REPO_DIR"
log "mypy $want"
status=0
# the cache outside the repository (the bench's copy of the app is synced from it)
MYPYPATH="$BENCH_DIR/apps/frappe" "$mypy" --cache-dir "${MF_MYPY_CACHE:-/tmp/mf-mypy-cache}" "$@" || status=1
[ "$status" -eq 0 ] || printf '\033[1;31mType check failed:\033[0m see the errors above (settings: [tool.mypy] in pyproject.toml).\n' >&2
exit "$status"
