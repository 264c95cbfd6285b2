#!/usr/bin/env bash
# Run the whole test suite against the bench's test site (created / updated first, fast when
# it exists), then the host-dependent tests on one site per host app installed in the bench
# (ERPNext, Helpdesk, Frappe CRM), and say which hosts were covered. Extra arguments go to
# pytest, e.g. scripts/test.sh -k permissions -x
#
# Host runs: every app of erpnext, helpdesk, crm found in sites/apps.txt gets its own site
# mf-test-<app>.localhost (that app + marketing_flows; created once), where HOST_TESTS run.
# They are left out when tests are picked by path, -k or -m (then only the main site runs).
# MF_HOSTS="erpnext helpdesk" picks the hosts explicitly (none: no host run);
# MF_HOSTS_ONLY=1 skips the main suite. Exit status: the main suite's when it failed, else 1
# when a host run failed or ran no test, else 0.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
source "$REPO_DIR/scripts/setup.sh"  # functions only (ensure_host_site)

HOST_APPS=(erpnext helpdesk crm)
HOST_TESTS=(tests/test_install.py tests/test_criteria.py)

"$REPO_DIR/scripts/setup.sh" --test-only
# Frappe logs to ../logs relative to the working directory, so tests run from sites/; paths like
# tests/test_engine.py are taken relative to the app's copy in the bench.
app="$BENCH_DIR/apps/$APP_NAME"
args=()
opts=()  # the arguments that are not test paths, for the host runs
has_path=0
selects=0
for arg in "$@"; do
	case "$arg" in
		tests|tests/*) args+=("$app/$arg"); has_path=1 ;;
		*) args+=("$arg"); opts+=("$arg") ;;
	esac
	case "$arg" in -k|-k*|-m|-m*) selects=1 ;; esac
done
[ "$has_path" -eq 1 ] || args+=("$app/tests")

run_pytest() {  # site, pytest arguments...
	local site="$1"; shift
	(cd "$BENCH_DIR/sites" && as_frappe env MF_TEST_SITE="$site" MF_BENCH_DIR="$BENCH_DIR" \
		MF_BENCH_CLI="$BENCH_CLI/bin/bench" MF_CHROMIUM="$CHROMIUM" \
		"$BENCH_DIR/env/bin/python" -m pytest --rootdir "$app" -c "$app/pyproject.toml" "$@")
}

# Which hosts to cover.
hosts=()
if [ -n "${MF_HOSTS:-}" ]; then
	[ "$MF_HOSTS" = "none" ] || read -r -a hosts <<<"$MF_HOSTS"
elif [ "$has_path" -eq 0 ] && [ "$selects" -eq 0 ]; then
	for host in "${HOST_APPS[@]}"; do
		if grep -qx "$host" "$BENCH_DIR/sites/apps.txt"; then hosts+=("$host"); fi
	done
fi

covered=()
failed=()
main_status=0
set +e
if [ "${MF_HOSTS_ONLY:-0}" != "1" ]; then
	log "Running tests on $TEST_SITE (Frappe only)"
	run_pytest "$TEST_SITE" "${args[@]}"
	main_status=$?
	if [ "$main_status" -eq 0 ]; then covered+=(frappe); else failed+=("frappe (pytest exit $main_status)"); fi
fi
for host in "${hosts[@]}"; do
	[ -d "$BENCH_DIR/apps/$host" ] || { failed+=("$host (not in the bench)"); continue; }
	site="$(host_test_site "$host")"
	( set -e; ensure_host_site "$host" )
	if [ $? -ne 0 ]; then failed+=("$host (site $site could not be prepared)"); continue; fi
	log "Running the host tests on $site ($host)"
	run_pytest "$site" "${opts[@]}" "${HOST_TESTS[@]/#/$app/}"
	status=$?
	if [ "$status" -eq 0 ]; then
		covered+=("$host")
	elif [ "$status" -eq 5 ]; then
		failed+=("$host (no test ran)")
	else
		failed+=("$host (pytest exit $status)")
	fi
done
set -e

summary="hosts covered: $(IFS=,; echo "${covered[*]:-none}" | sed 's/,/, /g')"
if [ ${#failed[@]} -gt 0 ]; then
	summary+="; FAILED: $(IFS=,; echo "${failed[*]}" | sed 's/,/, /g')"
fi
echo "$summary"
if [ "$main_status" -ne 0 ]; then exit "$main_status"; fi
if [ ${#failed[@]} -gt 0 ]; then exit 1; fi
exit 0
