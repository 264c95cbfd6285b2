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
# MF_HOSTS_ONLY=1 skips the main suite. Ends with what ran where, from pytest's closing lines:
#   hosts covered: frappe (140 passed, 3 skipped), erpnext (28 passed, 2 skipped)
# Exit status: the main suite's when it failed, else 1 when a host run failed or passed no test,
# else 0.
#
# While the tests run, the desk's worker and scheduler (scripts/desk.sh) are stopped: they share
# the bench's job queues and would run the test site's jobs with stale code. They are started
# again when the tests end, however they end.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
source "$REPO_DIR/scripts/setup.sh"  # functions only (ensure_host_site)

HOST_APPS=(erpnext helpdesk crm)
HOST_TESTS=(tests/test_install.py tests/test_criteria.py tests/test_leads.py tests/test_revenue.py tests/test_crm_pages.py tests/test_host_calendars.py tests/test_host_records.py tests/test_starter_flows.py)

# The whole run is one function, read before it starts: editing this file while the tests run
# can't change what the running script does next.
main() {
	"$REPO_DIR/scripts/setup.sh" --test-only

	# Every site of a bench shares its job queues: a running desk worker (scripts/desk.sh) would take
	# the test site's jobs and run them with the code and Python path it started with. Stop the
	# desk's worker and scheduler for the tests, and start them again afterwards (also after a
	# failure or Ctrl-C), with the code just synced.
	paused_daemons=()
	restart_desk() {
		local name
		[ ${#paused_daemons[@]} -gt 0 ] || return 0
		log "Restarting the desk's ${paused_daemons[*]} (stopped for the tests)"
		for name in "${paused_daemons[@]}"; do start_desk_daemon "$name"; done
		paused_daemons=()
	}
	pytest_out="$(mktemp)"  # pytest's output, to read its closing line ("140 passed, 3 skipped in 700s")
	trap 'rm -f "$pytest_out"; restart_desk' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	for name in mf-worker mf-schedule; do
		if daemon_running "$name"; then
			log "Stopping the desk's $name while the tests run (scripts/desk.sh started it; it is restarted after)"
			paused_daemons+=("$name")
			stop_daemon "$name"
		fi
	done
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

	color=()
	[ ! -t 1 ] || color=(--color=yes)  # pytest writes into a pipe (tee): keep the colours of a terminal

	run_pytest() {  # site, pytest arguments...; pytest's exit status
		local site="$1"; shift
		(cd "$BENCH_DIR/sites" && as_frappe env MF_TEST_SITE="$site" MF_BENCH_DIR="$BENCH_DIR" \
			MF_BENCH_CLI="$BENCH_CLI/bin/bench" MF_CHROMIUM="$CHROMIUM" \
			"$BENCH_DIR/env/bin/python" -m pytest --rootdir "$app" -c "$app/pyproject.toml" "${color[@]}" "$@") 2>&1 \
			| tee -i "$pytest_out"  # -i: on Ctrl-C, pytest still prints how far it got
		return "${PIPESTATUS[0]}"
	}

	# The counts of pytest's closing line, e.g. "140 passed, 3 skipped" ("no test ran" without any).
	pytest_counts() {
		local line
		line="$(sed 's/\x1b\[[0-9;]*m//g' "$pytest_out" \
			| grep -E '[0-9]+ (passed|failed|skipped|errors?|xfailed|xpassed|deselected)|no tests ran' | tail -n1)"
		line="$(grep -oE '[0-9]+ (passed|failed|skipped|errors?|xfailed|xpassed)' <<<"$line" | paste -sd, - | sed 's/,/, /g')"
		echo "${line:-no test ran}"
	}
	passed_count() { grep -oE '[0-9]+ passed' <<<"$1" | grep -oE '[0-9]+' || echo 0; }

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
		counts="$(pytest_counts)"
		if [ "$main_status" -eq 0 ]; then
			covered+=("frappe ($counts)")
		else
			failed+=("frappe (pytest exit $main_status: $counts)")
		fi
	fi
	for host in "${hosts[@]}"; do
		[ -d "$BENCH_DIR/apps/$host" ] || { failed+=("$host (not in the bench)"); continue; }
		site="$(host_test_site "$host")"
		( set -e; ensure_host_site "$host" )
		if [ $? -ne 0 ]; then failed+=("$host (site $site could not be prepared)"); continue; fi
		log "Running the host tests on $site ($host)"
		run_pytest "$site" "${opts[@]}" "${HOST_TESTS[@]/#/$app/}"
		status=$?
		counts="$(pytest_counts)"
		if [ "$status" -eq 0 ] && [ "$(passed_count "$counts")" -gt 0 ]; then
			covered+=("$host ($counts)")
		elif [ "$status" -eq 0 ] || [ "$status" -eq 5 ]; then
			failed+=("$host (no test passed: $counts)")
		else
			failed+=("$host (pytest exit $status: $counts)")
		fi
	done
	set -e

	join() { local out="" item; for item in "$@"; do out+="${out:+, }$item"; done; echo "$out"; }
	summary="hosts covered: $(join "${covered[@]}")"
	[ ${#covered[@]} -gt 0 ] || summary="hosts covered: none"
	if [ ${#failed[@]} -gt 0 ]; then
		summary+="; FAILED: $(join "${failed[@]}")"
	fi
	echo "$summary"
	if [ "$main_status" -ne 0 ]; then exit "$main_status"; fi
	if [ ${#failed[@]} -gt 0 ]; then exit 1; fi
	exit 0
}

main "$@"
exit $?
