#!/usr/bin/env bash
# Shared settings and helpers for the project's scripts. Sourced, not run.
# Every value can be overridden from the environment.
set -euo pipefail

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FRAPPE_USER="${MF_FRAPPE_USER:-frappe}"
FRAPPE_HOME="${MF_FRAPPE_HOME:-/home/$FRAPPE_USER}"
BENCH_DIR="${MF_BENCH_DIR:-$FRAPPE_HOME/frappe-bench}"
BENCH_CLI="${MF_BENCH_CLI:-$FRAPPE_HOME/.bench-cli}"
# Frappe source: the official repository, or a local clone (path) given by FRAPPE_SOURCE.
FRAPPE_SOURCE="${FRAPPE_SOURCE:-https://github.com/frappe/frappe}"
FRAPPE_BRANCH="${FRAPPE_BRANCH:-version-15}"
DESK_SITE="${MF_SITE:-marketing.localhost}"
TEST_SITE="${MF_TEST_SITE:-mf-test.localhost}"
ADMIN_PASSWORD="${MF_ADMIN_PASSWORD:-admin}"
WEB_PORT="${MF_WEB_PORT:-8000}"
DB_ADMIN_USER="${MF_DB_ADMIN_USER:-mf_db_admin}"
DB_ADMIN_FILE="$FRAPPE_HOME/.config/marketing_flows/db_admin_password"
CHROMIUM="${MF_CHROMIUM:-/usr/bin/chromium}"
APP_NAME="marketing_flows"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

log() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }
die() { printf '\033[1;31mERROR:\033[0m %s\n' "$*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

# Run a command as the frappe user, keeping the environment (proxy CA variables, PATH)
# that a login shell would drop, and with HOME set to the frappe user's.
as_frappe() {
	if [ "$(id -un)" = "$FRAPPE_USER" ]; then
		env HOME="$FRAPPE_HOME" PATH="$BENCH_CLI/bin:$PATH" UV_NATIVE_TLS=1 UV_SYSTEM_CERTS=1 "$@"
	else
		$SUDO runuser -u "$FRAPPE_USER" -- env HOME="$FRAPPE_HOME" PATH="$BENCH_CLI/bin:$PATH" \
			UV_NATIVE_TLS=1 UV_SYSTEM_CERTS=1 "$@"
	fi
}

# The version requirements-test.txt pins for a tool (`ruff==X.Y.Z`), empty when none.
pinned_version() { sed -n "s/^$1==\([^ ;#]*\).*/\1/p" "$REPO_DIR/requirements-test.txt"; }
# The bench's installed version of a tool, empty when missing.
installed_version() { "$BENCH_DIR/env/bin/$1" --version 2>/dev/null | awk '{print $2}'; }
# Make sure the bench's Python has the pinned version of tool $1 (lint.sh, typecheck.sh).
ensure_pinned_tool() {
	local want; want="$(pinned_version "$1")"
	[ -n "$want" ] || die "requirements-test.txt pins no $1 version ($1==X.Y.Z)."
	[ -x "$BENCH_DIR/env/bin/python" ] || die "No bench at $BENCH_DIR: run scripts/setup.sh first."
	if [ "$(installed_version "$1")" != "$want" ]; then
		log "Installing $1 $want in the bench's Python"
		as_frappe "$BENCH_DIR/env/bin/python" -m pip install -q "$1==$want" || die "pip install $1==$want failed."
	fi
}
bench_cmd() { (cd "$BENCH_DIR" && as_frappe "$BENCH_CLI/bin/bench" "$@"); }
bench_python() { (cd "$BENCH_DIR/sites" && as_frappe "$BENCH_DIR/env/bin/python" "$@"); }

db_admin_password() { $SUDO cat "$DB_ADMIN_FILE"; }

site_exists() { [ -f "$BENCH_DIR/sites/$1/site_config.json" ]; }

# Start a background process for the bench unless its pid file says it runs.
start_daemon() {
	local name="$1"; shift
	local pidfile="$BENCH_DIR/config/pids/$name.pid"
	if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then return 0; fi
	mkdir -p "$BENCH_DIR/config/pids" "$BENCH_DIR/logs"
	# exec in a subshell: no copy of the caller's stdout stays open (a pipe would never close).
	(
		cd "$BENCH_DIR"
		exec >>"$BENCH_DIR/logs/$name.log" 2>&1 </dev/null
		if [ "$(id -un)" = "$FRAPPE_USER" ]; then
			exec env HOME="$FRAPPE_HOME" PATH="$BENCH_CLI/bin:$PATH" "$@"
		fi
		exec $SUDO runuser -u "$FRAPPE_USER" -- env HOME="$FRAPPE_HOME" PATH="$BENCH_CLI/bin:$PATH" "$@"
	) &
	echo $! >"$pidfile"
}

# The desk's background processes, by name (scripts/desk.sh starts them, scripts/test.sh stops
# the worker and the scheduler while the tests run).
DESK_DAEMONS=(mf-web mf-worker mf-schedule mf-socketio)
start_desk_daemon() {
	case "$1" in
		mf-web) start_daemon "$1" "$BENCH_CLI/bin/bench" serve --port "$WEB_PORT" --noreload --nothreading ;;
		mf-worker) start_daemon "$1" "$BENCH_CLI/bin/bench" worker --queue short,default,long ;;
		mf-schedule) start_daemon "$1" "$BENCH_CLI/bin/bench" schedule ;;
		mf-socketio) start_daemon "$1" node "$BENCH_DIR/apps/frappe/socketio.js" ;;
		*) die "unknown desk process $1" ;;
	esac
}

daemon_running() { local f="$BENCH_DIR/config/pids/$1.pid"; [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null; }

# The process under the sudo / runuser wrappers that start_daemon puts around a command.
unwrapped_pid() {
	local pid="$1"
	while [ -n "$pid" ] && [[ "$(ps -o comm= -p "$pid" 2>/dev/null)" =~ ^(sudo|runuser)$ ]]; do
		pid="$(pgrep -P "$pid" | head -n1 || true)"
	done
	echo "$pid"
}

# Stop a process started by start_daemon and wait until it is gone. SIGTERM goes to the command
# itself (not to the runuser around it, which would SIGKILL it 2 s later), so an RQ worker
# finishes the job it runs and exits; SIGKILL after $2 seconds (default 120).
stop_daemon() {
	local name="$1" grace="${2:-120}" pidfile="$BENCH_DIR/config/pids/$1.pid" pid target waited=0
	[ -f "$pidfile" ] || return 0
	pid="$(cat "$pidfile")"
	if kill -0 "$pid" 2>/dev/null; then
		target="$(unwrapped_pid "$pid")"
		$SUDO kill -TERM "${target:-$pid}" 2>/dev/null || true
		while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt "$grace" ]; do
			# the command is gone but a wrapper is left: end it too
			if [ -n "$target" ] && ! kill -0 "$target" 2>/dev/null; then $SUDO kill -TERM "$pid" 2>/dev/null || true; fi
			sleep 1
			waited=$((waited + 1))
		done
		if kill -0 "$pid" 2>/dev/null; then
			log "$name did not stop within $grace s: killing it"
			[ -z "$target" ] || $SUDO kill -KILL "$target" 2>/dev/null || true
			$SUDO kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	rm -f "$pidfile"
}
