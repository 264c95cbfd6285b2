#!/usr/bin/env bash
# Bring up a working desk with marketing_flows installed: provisions what is missing (see
# setup.sh), then starts web, worker, scheduler and socketio for the bench and prints the URL.
# Idempotent: a second run restarts the processes (so they load the current code).
# Stop them with scripts/desk.sh --stop
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

stop_all() {
	for name in "${DESK_DAEMONS[@]}"; do stop_daemon "$name" 30; done
	log "Stopped web, worker, scheduler and socketio."
}

if [ "${1:-}" = "--stop" ]; then stop_all; exit 0; fi

"$REPO_DIR/scripts/setup.sh"
stop_all >/dev/null  # restart: running processes would keep the app's old code

# A new site shows the setup wizard first: complete it so the admin lands in the desk.
done="$(bench_cmd --site "$DESK_SITE" execute frappe.db.get_single_value --args '["System Settings", "setup_complete"]' 2>/dev/null || true)"
if [ "$(tail -n1 <<<"$done")" != "1" ]; then
	log "Completing the setup wizard on $DESK_SITE"
	bench_cmd --site "$DESK_SITE" execute frappe.desk.page.setup_wizard.setup_wizard.setup_complete \
		--args "[{\"language\": \"English\", \"country\": \"United States\", \"timezone\": \"UTC\", \"currency\": \"USD\", \"full_name\": \"Administrator\", \"email\": \"admin@example.com\", \"password\": \"$ADMIN_PASSWORD\"}]" >/dev/null \
		|| die "Could not complete the setup wizard on $DESK_SITE."
fi
bench_cmd --site "$DESK_SITE" enable-scheduler >/dev/null
bench_cmd --site "$DESK_SITE" set-config host_name "http://$DESK_SITE:$WEB_PORT" >/dev/null

for name in "${DESK_DAEMONS[@]}"; do start_desk_daemon "$name"; done

for _ in $(seq 1 60); do
	curl -s -o /dev/null -H "Host: $DESK_SITE" "http://127.0.0.1:$WEB_PORT/api/method/ping" && break
	sleep 1
done
curl -s -o /dev/null -H "Host: $DESK_SITE" "http://127.0.0.1:$WEB_PORT/api/method/ping" \
	|| die "The web server does not answer: see $BENCH_DIR/logs/mf-web.log"

cat <<MSG

  Marketing Flows desk is up.
    URL:      http://$DESK_SITE:$WEB_PORT/app/marketing-flows
              (or http://127.0.0.1:$WEB_PORT/app/marketing-flows: this bench serves $DESK_SITE by default)
    Login:    Administrator / $ADMIN_PASSWORD
    Logs:     $BENCH_DIR/logs/mf-*.log
    Stop:     scripts/desk.sh --stop

MSG
