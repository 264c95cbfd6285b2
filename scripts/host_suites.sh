#!/usr/bin/env bash
# The host apps' own tests, with and without marketing_flows: does installing the app (with
# running flows watching Contact, the deal and the issue doctypes) change their results?
# For each host in the bench, two sites: mf-base-<app>.localhost (the host alone) and
# mf-check-<app>.localhost (the host + marketing_flows + flows from benchmarks/host_flows.py).
# Runs `bench run-tests` for Contact (Frappe), Issue and Opportunity (ERPNext), HD Ticket
# (Helpdesk) on both, with the scheduler disabled (Frappe 15's test runner fails with
# ImplicitCommitError on a site whose scheduler is enabled, app or no app), and prints a table.
# Exit status 1 when a suite has fewer tests or more failures with the app than without.
# Takes minutes (site creation, ERPNext's test records): run it on purpose, not in CI.
#   scripts/host_suites.sh            every host in the bench
#   MF_HOSTS="erpnext" scripts/host_suites.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
source "$REPO_DIR/scripts/setup.sh"  # functions only

declare -A SUITES=(
	[erpnext]="frappe:Contact erpnext:Issue erpnext:Opportunity erpnext:Lead"
	[helpdesk]="frappe:Contact helpdesk:HD Ticket"
	[crm]="frappe:Contact"
)

hosts=()
if [ -n "${MF_HOSTS:-}" ]; then read -r -a hosts <<<"$MF_HOSTS"; else
	for host in erpnext helpdesk crm; do grep -qx "$host" "$BENCH_DIR/sites/apps.txt" && hosts+=("$host"); done
fi
[ ${#hosts[@]} -gt 0 ] || die "No host app (erpnext, helpdesk, crm) in the bench at $BENCH_DIR."

base_site() {
	local site="$1" app="$2"
	if ! site_exists "$site"; then
		log "Creating $site ($app only)"
		bench_cmd new-site "$site" --db-root-username "$DB_ADMIN_USER" --db-root-password "$(db_admin_password)" \
			--admin-password "$ADMIN_PASSWORD" --install-app "$app" >"$BENCH_DIR/logs/new-site-$site.log" 2>&1 \
			|| die "bench new-site $site failed (log: $BENCH_DIR/logs/new-site-$site.log)."
	fi
}

# "Ran 12 tests ... OK" / "FAILED (failures=1, errors=2)" -> "tests failures errors"
result_of() {
	local out="$1" ran failures errors
	ran="$(grep -oE '^Ran [0-9]+ test' "$out" | tail -1 | grep -oE '[0-9]+' || echo 0)"
	failures="$(grep -oE 'failures=[0-9]+' "$out" | tail -1 | cut -d= -f2 || true)"
	errors="$(grep -oE 'errors=[0-9]+' "$out" | tail -1 | cut -d= -f2 || true)"
	echo "${ran:-0} ${failures:-0} ${errors:-0}"
}

sync_app
status=0
printf '%-10s %-22s %-24s %-24s\n' host suite "without the app" "with the app"
for host in "${hosts[@]}"; do
	base="mf-base-$host.localhost" check="mf-check-$host.localhost"
	base_site "$base" "$host" >&2
	ensure_site "$check" --install-app "$host" >&2
	for site in "$base" "$check"; do
		bench_cmd --site "$site" set-config allow_tests true >/dev/null
		bench_cmd --site "$site" disable-scheduler >/dev/null
	done
	bench_python "$BENCH_DIR/apps/$APP_NAME/benchmarks/host_flows.py" "$check" >&2
	IFS=' ' read -r -a suites <<<"${SUITES[$host]}"
	i=0
	while [ $i -lt ${#suites[@]} ]; do
		# a suite is app:Doctype; a doctype name may contain a space ("HD Ticket")
		suite="${suites[$i]}"
		while [ $((i + 1)) -lt ${#suites[@]} ] && [[ "${suites[$((i + 1))]}" != *:* ]]; do
			i=$((i + 1)); suite="$suite ${suites[$i]}"
		done
		i=$((i + 1))
		app="${suite%%:*}" doctype="${suite#*:}"
		declare -A got=()
		for site in "$base" "$check"; do
			out="$BENCH_DIR/logs/host-suite-$site-${doctype// /_}.log"
			bench_cmd --site "$site" run-tests --app "$app" --doctype "$doctype" >"$out" 2>&1 || true
			got[$site]="$(result_of "$out")"
		done
		read -r b_ran b_fail b_err <<<"${got[$base]}"
		read -r c_ran c_fail c_err <<<"${got[$check]}"
		printf '%-10s %-22s %-24s %-24s\n' "$host" "$app $doctype" \
			"$b_ran run, $b_fail failed, $b_err errors" "$c_ran run, $c_fail failed, $c_err errors"
		if [ "$c_ran" -lt "$b_ran" ] || [ $((c_fail + c_err)) -gt $((b_fail + b_err)) ]; then status=1; fi
	done
done
[ "$status" -eq 0 ] && log "Same results with the app as without." || printf '\033[1;31mThe app changes a host suite'"'"'s results: see %s/logs/host-suite-*.log\033[0m\n' "$BENCH_DIR"
exit "$status"
