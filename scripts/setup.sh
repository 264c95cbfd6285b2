#!/usr/bin/env bash
# Provision everything the app needs on a Debian 12 machine, idempotently:
# system packages, MariaDB (utf8mb4) and Redis, the `frappe` user, bench, Frappe,
# the desk site and the test site, with marketing_flows installed on both.
# Fast when everything already exists. Usage: scripts/setup.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ensure_packages() {
	local missing=()
	have mariadb || missing+=(mariadb-server mariadb-client)
	[ -x /usr/sbin/mariadbd ] || missing+=(mariadb-server)
	have redis-server || missing+=(redis-server)
	have git || missing+=(git)
	have rsync || missing+=(rsync)
	have node || missing+=(nodejs)
	have npm || missing+=(npm)
	have pkg-config || missing+=(pkg-config)
	[ -x "$CHROMIUM" ] || missing+=(chromium)
	[ -x /usr/sbin/dovecot ] || missing+=(dovecot-imapd)  # a real IMAP server for the bounce tests
	/usr/bin/python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv python3-pip)
	[ -f /usr/include/python3.11/Python.h ] || missing+=(python3-dev)
	[ -f /usr/include/mariadb/mysql.h ] || missing+=(libmariadb-dev)
	if [ ${#missing[@]} -gt 0 ]; then
		log "Installing system packages: ${missing[*]}"
		have apt-get || die "apt-get not found: install ${missing[*]} by hand (this script supports Debian 12)."
		$SUDO apt-get update -qq || die "apt-get update failed: check the network / package mirror."
		$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
			|| die "Could not install ${missing[*]} with apt-get."
	fi
	if ! have yarn; then
		log "Installing yarn 1.x"
		$SUDO npm install -g yarn@1 >/dev/null 2>&1 || die "npm install -g yarn@1 failed: check access to the npm registry."
	fi
	local node_major
	node_major="$(node -v | sed 's/^v\([0-9]*\).*/\1/')"
	[ "$node_major" -ge 18 ] || die "Node.js $(node -v) is too old: Frappe v15 needs Node 18 or newer."
}

ensure_mariadb() {
	if ! $SUDO mariadb-admin ping --silent >/dev/null 2>&1; then
		log "Starting MariaDB"
		if have systemctl && systemctl is-system-running >/dev/null 2>&1; then
			$SUDO systemctl start mariadb || true
		fi
		$SUDO mariadb-admin ping --silent >/dev/null 2>&1 || {
			$SUDO mkdir -p /run/mysqld && $SUDO chown mysql:mysql /run/mysqld
			$SUDO start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
		}
		for _ in $(seq 1 30); do $SUDO mariadb-admin ping --silent >/dev/null 2>&1 && break; sleep 1; done
		$SUDO mariadb-admin ping --silent >/dev/null 2>&1 || die "MariaDB does not start: see /var/log/mysql or 'journalctl -u mariadb'."
	fi
	local conf=/etc/mysql/mariadb.conf.d/99-marketing-flows.cnf
	if [ ! -f "$conf" ]; then
		log "Configuring MariaDB for Frappe (utf8mb4)"
		$SUDO mkdir -p "$(dirname "$conf")"
		if [ -f /etc/mysql/my.cnf ] && ! grep -q 'includedir /etc/mysql/mariadb.conf.d' /etc/mysql/my.cnf; then
			echo '!includedir /etc/mysql/mariadb.conf.d/' | $SUDO tee -a /etc/mysql/my.cnf >/dev/null
		fi
		$SUDO tee "$conf" >/dev/null <<'CNF'
[mysqld]
character-set-client-handshake = FALSE
character-set-server = utf8mb4
collation-server = utf8mb4_unicode_ci

[mysql]
default-character-set = utf8mb4
CNF
	fi
	# Apply at runtime too, so a running server needs no restart.
	$SUDO mariadb -uroot -e "SET GLOBAL character_set_server='utf8mb4'; SET GLOBAL collation_server='utf8mb4_unicode_ci';" \
		|| die "Cannot log in to MariaDB as root through the local socket: run this script as root or with sudo."
	tune_mariadb
	if ! $SUDO test -s "$DB_ADMIN_FILE"; then
		log "Creating MariaDB admin user $DB_ADMIN_USER for bench"
		local pw
		pw="$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 24)"
		$SUDO mkdir -p "$(dirname "$DB_ADMIN_FILE")"
		echo "$pw" | $SUDO tee "$DB_ADMIN_FILE" >/dev/null
		$SUDO chmod 600 "$DB_ADMIN_FILE"
		$SUDO chown -R "$FRAPPE_USER:$FRAPPE_USER" "$FRAPPE_HOME/.config"
	fi
	local pw; pw="$(db_admin_password)"
	$SUDO mariadb -uroot -e "CREATE USER IF NOT EXISTS '$DB_ADMIN_USER'@'localhost' IDENTIFIED BY '$pw';
		CREATE USER IF NOT EXISTS '$DB_ADMIN_USER'@'127.0.0.1' IDENTIFIED BY '$pw';
		ALTER USER '$DB_ADMIN_USER'@'localhost' IDENTIFIED BY '$pw';
		ALTER USER '$DB_ADMIN_USER'@'127.0.0.1' IDENTIFIED BY '$pw';
		GRANT ALL PRIVILEGES ON *.* TO '$DB_ADMIN_USER'@'localhost' WITH GRANT OPTION;
		GRANT ALL PRIVILEGES ON *.* TO '$DB_ADMIN_USER'@'127.0.0.1' WITH GRANT OPTION;
		FLUSH PRIVILEGES;" || die "Could not create the MariaDB admin user $DB_ADMIN_USER."
}

# InnoDB's buffer pool holds the tables and indexes the engine works on: with MariaDB's default
# (128 MB) a flow of a million participants reads from disk on every claim. Size it to the
# machine (half of the RAM by default: the bench's own processes and Redis live in the other
# half; MF_DB_BUFFER_POOL_MB to choose), write it into a
# config file for the next start and apply it to the running server (MariaDB >= 10.2 resizes the
# pool live), and say what it is.
tune_mariadb() {
	local conf=/etc/mysql/mariadb.conf.d/99-marketing-flows-tuning.cnf want_mb ram_mb current
	ram_mb="$(awk '/^MemTotal:/{print int($2/1024)}' /proc/meminfo)"
	want_mb="${MF_DB_BUFFER_POOL_MB:-$((ram_mb / 2))}"
	[[ "$want_mb" =~ ^[0-9]+$ ]] || die "MF_DB_BUFFER_POOL_MB must be a number of megabytes, not '$want_mb'."
	[ "$want_mb" -ge 128 ] || want_mb=128
	# The pool grows in chunks (128 MB by default): round up to one.
	want_mb=$(( (want_mb + 127) / 128 * 128 ))
	local body="[mysqld]
innodb_buffer_pool_size = ${want_mb}M
innodb_log_file_size = 512M"
	if [ "$($SUDO cat "$conf" 2>/dev/null)" != "$body" ]; then
		echo "$body" | $SUDO tee "$conf" >/dev/null
		# an older version of this script put a fixed pool size into the charset file
		$SUDO sed -i '/^innodb_buffer_pool_size = 1G$/d' /etc/mysql/mariadb.conf.d/99-marketing-flows.cnf 2>/dev/null || true
	fi
	current="$($SUDO mariadb -uroot -N -e 'SELECT @@innodb_buffer_pool_size DIV 1048576')"
	if [ "$current" != "$want_mb" ]; then
		$SUDO mariadb -uroot -e "SET GLOBAL innodb_buffer_pool_size = $((want_mb * 1048576))" \
			|| die "Could not resize MariaDB's buffer pool to $want_mb MB (set MF_DB_BUFFER_POOL_MB)."
		# the resize runs in the background; its status is empty again (10.11) or "Completed..."
		# when it is done
		for _ in $(seq 1 60); do
			sleep 1
			$SUDO mariadb -uroot -N -e "SHOW STATUS LIKE 'Innodb_buffer_pool_resize_status'" \
				| awk -F'\t' '$2 == "" || $2 ~ /^Completed/ {ok=1} END {exit !ok}' && break
		done
		current="$($SUDO mariadb -uroot -N -e 'SELECT @@innodb_buffer_pool_size DIV 1048576')"
	fi
	# The redo log: 10.11 resizes it live too; a larger one absorbs bulk enrolments and batches.
	if [ "$($SUDO mariadb -uroot -N -e 'SELECT @@innodb_log_file_size DIV 1048576')" -lt 512 ]; then
		$SUDO mariadb -uroot -e "SET GLOBAL innodb_log_file_size = 536870912" 2>/dev/null || true
	fi
	log "MariaDB: InnoDB buffer pool ${current} MB (machine: ${ram_mb} MB RAM; MF_DB_BUFFER_POOL_MB to change), redo log $($SUDO mariadb -uroot -N -e 'SELECT @@innodb_log_file_size DIV 1048576') MB; kept in $conf"
}

ensure_frappe_user() {
	if ! id "$FRAPPE_USER" >/dev/null 2>&1; then
		log "Creating user $FRAPPE_USER"
		$SUDO useradd -m -s /bin/bash "$FRAPPE_USER"
	fi
	$SUDO chmod 755 "$FRAPPE_HOME"
	if [ ! -x "$BENCH_CLI/bin/bench" ]; then
		log "Installing the bench CLI in $BENCH_CLI"
		as_frappe /usr/bin/python3 -m venv "$BENCH_CLI"
		as_frappe "$BENCH_CLI/bin/pip" install -q frappe-bench uv || die "pip install frappe-bench failed: check access to PyPI."
	fi
}

ensure_bench() {
	if [ ! -d "$BENCH_DIR/apps/frappe" ]; then
		local src="$FRAPPE_SOURCE"
		if [ -d "$src" ]; then
			src="$(cd "$src" && pwd)"
			log "Creating the bench from the local Frappe clone $src (branch $FRAPPE_BRANCH)"
			$SUDO git config --system --add safe.directory '*' 2>/dev/null || true
		else
			log "Creating the bench from $src (branch $FRAPPE_BRANCH)"
		fi
		[ -e "$BENCH_DIR" ] && $SUDO rm -rf "$BENCH_DIR"
		(cd "$FRAPPE_HOME" && as_frappe "$BENCH_CLI/bin/bench" init "$(basename "$BENCH_DIR")" \
			--frappe-path "$src" --frappe-branch "$FRAPPE_BRANCH" --python /usr/bin/python3 \
			--no-backups) \
			|| die "bench init failed (see above). Set FRAPPE_SOURCE to a local Frappe clone if the official repository can't be reached."
	fi
	# 2026 packaging: setuptools 81+ has no pkg_resources, which Frappe v15's stack still needs.
	if ! as_frappe "$BENCH_DIR/env/bin/python" -c 'import pkg_resources' >/dev/null 2>&1; then
		log "Pinning setuptools<81 in the bench's Python"
		as_frappe "$BENCH_DIR/env/bin/python" -m pip install -q "setuptools<81"
	fi
	if ! as_frappe "$BENCH_DIR/env/bin/python" -c 'import pytest, aiosmtpd, playwright, hypothesis' >/dev/null 2>&1 \
		|| [ "$(installed_version ruff)" != "$(pinned_version ruff)" ] \
		|| [ "$(installed_version mypy)" != "$(pinned_version mypy)" ]; then
		log "Installing test tools (pytest, ruff, mypy, ...) in the bench's Python"
		as_frappe "$BENCH_DIR/env/bin/python" -m pip install -q -r "$REPO_DIR/requirements-test.txt"
	fi
}

ensure_redis() {
	# Bench's own Redis instances (cache and queue), from the configs bench generated. A second
	# bench on the same machine needs ports of its own: MF_REDIS_CACHE_PORT / MF_REDIS_QUEUE_PORT
	# (bench init picks the next free ones after the benches beside it, which may not be what
	# another bench created later expects).
	local gconf="$BENCH_DIR/sites/common_site_config.json" changed=0
	if [ -n "${MF_REDIS_CACHE_PORT:-}" ] && ! grep -q "\"redis_cache\": *\"redis://127.0.0.1:$MF_REDIS_CACHE_PORT\"" "$gconf"; then
		bench_cmd set-config -g redis_cache "redis://127.0.0.1:$MF_REDIS_CACHE_PORT" >/dev/null
		bench_cmd set-config -g redis_socketio "redis://127.0.0.1:$MF_REDIS_CACHE_PORT" >/dev/null
		changed=1
	fi
	if [ -n "${MF_REDIS_QUEUE_PORT:-}" ] && ! grep -q "\"redis_queue\": *\"redis://127.0.0.1:$MF_REDIS_QUEUE_PORT\"" "$gconf"; then
		bench_cmd set-config -g redis_queue "redis://127.0.0.1:$MF_REDIS_QUEUE_PORT" >/dev/null
		changed=1
	fi
	[ "$changed" -eq 0 ] || { log "Redis ports of this bench: cache ${MF_REDIS_CACHE_PORT:-unchanged}, queue ${MF_REDIS_QUEUE_PORT:-unchanged}"; bench_cmd setup redis >/dev/null; }
	for name in redis_cache redis_queue; do
		local conf="$BENCH_DIR/config/$name.conf"
		[ -f "$conf" ] || bench_cmd setup redis >/dev/null
		local port; port="$(awk '/^port/{print $2}' "$conf")"
		if ! redis-cli -p "$port" ping >/dev/null 2>&1; then
			(cd "$BENCH_DIR/config" && as_frappe redis-server "$conf" --daemonize yes >/dev/null)
			for _ in $(seq 1 20); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.2; done
			redis-cli -p "$port" ping >/dev/null 2>&1 || die "Redis ($name, port $port) does not start: see $BENCH_DIR/logs."
		fi
	done
}

# Copy this checkout into the bench as apps/marketing_flows and install it in the bench's Python.
sync_app() {
	local dest="$BENCH_DIR/apps/$APP_NAME"
	if [ -L "$dest" ]; then $SUDO rm -f "$dest"; fi
	$SUDO mkdir -p "$dest"
	# public/dist holds the bundles `bench build` made (not in the repository): keep them.
	$SUDO rsync -a --delete --exclude .git --exclude '__pycache__' --exclude node_modules \
		--exclude '*.egg-info' --exclude "/$APP_NAME/public/dist" "$REPO_DIR/" "$dest/"
	$SUDO chown -R "$FRAPPE_USER:$FRAPPE_USER" "$dest"
	# installed again when its dependencies (pyproject.toml) changed
	local stamp="$BENCH_DIR/env/.mf_pyproject_hash" h
	h="$(sha1sum "$dest/pyproject.toml" | cut -d' ' -f1)"
	if ! (cd / && as_frappe "$BENCH_DIR/env/bin/python" -c "import $APP_NAME" >/dev/null 2>&1) \
		|| [ "$(cat "$stamp" 2>/dev/null)" != "$h" ]; then
		log "Installing $APP_NAME and its dependencies into the bench's Python"
		as_frappe "$BENCH_DIR/env/bin/python" -m pip install -q -e "$dest" || die "pip install -e $dest failed."
		echo "$h" | as_frappe tee "$stamp" >/dev/null
	fi
	# Static files (what `bench build` would link for an app without bundles).
	[ -L "$BENCH_DIR/sites/assets/$APP_NAME" ] || as_frappe ln -sfn "$dest/$APP_NAME/public" "$BENCH_DIR/sites/assets/$APP_NAME"
	local apps="$BENCH_DIR/sites/apps.txt"
	if ! grep -qx "$APP_NAME" "$apps"; then
		[ -z "$(tail -c1 "$apps")" ] || echo | as_frappe tee -a "$apps" >/dev/null  # apps.txt may lack a final newline
		echo "$APP_NAME" | as_frappe tee -a "$apps" >/dev/null
	fi
}

# Compile the app's translation catalogues (locale/*.po) into the bench's
# sites/assets/locale/<lang>/LC_MESSAGES/marketing_flows.mo, as `bench build` does for Frappe's own,
# when the .po files changed since the last compile (or a .mo is missing). The sites' translation
# caches are cleared by the migrate that follows (app_hash covers the .po files).
compile_translations() {
	local locale="$BENCH_DIR/apps/$APP_NAME/$APP_NAME/locale" stamp="$BENCH_DIR/sites/assets/locale/.mf_po_hash" h po lang
	compgen -G "$locale/*.po" >/dev/null || return 0
	h="$(cat "$locale"/*.po | sha1sum | cut -d' ' -f1)"
	local fresh=1
	for po in "$locale"/*.po; do
		lang="$(basename "$po" .po)"
		[ -f "$BENCH_DIR/sites/assets/locale/$lang/LC_MESSAGES/$APP_NAME.mo" ] || fresh=0
	done
	if [ "$fresh" -eq 1 ] && [ "$(cat "$stamp" 2>/dev/null)" = "$h" ]; then return 0; fi
	log "Compiling the translations of $APP_NAME (.po -> .mo)"
	bench_cmd compile-po-to-mo --app "$APP_NAME" --force >/dev/null || die "bench compile-po-to-mo --app $APP_NAME failed."
	echo "$h" | as_frappe tee "$stamp" >/dev/null
}

# Build the app's JS bundles (public/js/*.bundle.js and the .vue files they import) with
# `bench build --app`, when those files changed since the last build or the build is missing.
build_assets() {
	local public="$BENCH_DIR/apps/$APP_NAME/$APP_NAME/public" stamp="$BENCH_DIR/sites/assets/.mf_js_hash" h
	compgen -G "$public/js/*.bundle.js" >/dev/null || return 0
	h="$(cd "$public" && find . -type f \( -name '*.js' -o -name '*.vue' -o -name '*.css' -o -name '*.scss' \) \
		-not -path './dist/*' -print0 | sort -z | xargs -0 sha1sum | sha1sum | cut -d' ' -f1)"
	if [ -d "$public/dist" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$h" ] \
		&& grep -q "marketing_flow_designer.bundle.js" "$BENCH_DIR/sites/assets/assets.json" 2>/dev/null; then
		return 0
	fi
	log "Building the JS bundles of $APP_NAME (bench build --app $APP_NAME)"
	bench_cmd build --app "$APP_NAME" >"$BENCH_DIR/logs/build-$APP_NAME.log" 2>&1 \
		|| { tail -40 "$BENCH_DIR/logs/build-$APP_NAME.log"; die "bench build --app $APP_NAME failed (log: $BENCH_DIR/logs/build-$APP_NAME.log)."; }
	echo "$h" | as_frappe tee "$stamp" >/dev/null
}

app_hash() {
	(cd "$BENCH_DIR/apps/$APP_NAME" && find . -type f \( -name '*.json' -o -name '*.py' -o -name '*.txt' -o -name '*.po' -o -name '*.js' -o -name '*.vue' \) \
		-not -path './tests/*' -print0 | sort -z | xargs -0 sha1sum | sha1sum | cut -d' ' -f1)
}

# Create a site (if missing) with marketing_flows installed; migrate when the app changed.
# Extra arguments go to new-site; apps named by `--install-app APP` there are installed
# (before marketing_flows) on an existing site too.
ensure_site() {
	local site="$1"; shift
	if ! site_exists "$site"; then
		log "Creating site $site"
		bench_cmd new-site "$site" --db-root-username "$DB_ADMIN_USER" --db-root-password "$(db_admin_password)" \
			--admin-password "$ADMIN_PASSWORD" "$@" --install-app "$APP_NAME" >"$BENCH_DIR/logs/new-site-$site.log" 2>&1 \
			|| { tail -40 "$BENCH_DIR/logs/new-site-$site.log"; die "bench new-site $site failed (log: $BENCH_DIR/logs/new-site-$site.log)."; }
		rm -f "$BENCH_DIR/sites/$site/.mf_app_hash"
	fi
	local apps; apps="$(bench_cmd --site "$site" execute frappe.get_installed_apps 2>/dev/null || true)"
	local want=() prev="" app
	for app in "$@"; do [ "$prev" != "--install-app" ] || want+=("$app"); prev="$app"; done
	for app in "${want[@]}" "$APP_NAME"; do
		if ! grep -q "\"$app\"" <<<"$apps"; then
			bench_cmd --site "$site" install-app "$app" || die "install-app $app on $site failed."
		fi
	done
	local h; h="$(app_hash)"
	if [ "$(cat "$BENCH_DIR/sites/$site/.mf_app_hash" 2>/dev/null)" != "$h" ]; then
		log "Migrating $site (app changed)"
		bench_cmd --site "$site" migrate --skip-failing >/dev/null || bench_cmd --site "$site" migrate || die "migrate $site failed."
		echo "$h" | as_frappe tee "$BENCH_DIR/sites/$site/.mf_app_hash" >/dev/null
	fi
}

# A test site with a host app (erpnext, helpdesk, crm) and marketing_flows: scripts/test.sh runs
# the host-dependent tests there, so the main test site stays Frappe + marketing_flows only.
host_test_site() { echo "mf-test-$1.localhost"; }
ensure_host_site() {
	local app="$1" site; site="$(host_test_site "$1")"
	ensure_site "$site" --install-app "$app"
	test_site_config "$site"
}

# A test site allows tests, and the suite's many test users (Frappe refuses more than 60 new users
# a minute: "Throttled").
test_site_config() {
	local config="$BENCH_DIR/sites/$1/site_config.json"
	grep -q '"allow_tests": *true' "$config" || bench_cmd --site "$1" set-config allow_tests true >/dev/null
	grep -q '"throttle_user_limit": *10000' "$config" \
		|| bench_cmd --site "$1" set-config throttle_user_limit 10000 --parse >/dev/null
}

main() {
	ensure_packages
	ensure_frappe_user
	ensure_mariadb
	ensure_bench
	ensure_redis
	sync_app
	compile_translations
	build_assets
	ensure_site "$TEST_SITE"
	test_site_config "$TEST_SITE"
	if [ "${1:-}" != "--test-only" ]; then
		ensure_site "$DESK_SITE"
		bench_cmd --site "$DESK_SITE" set-config developer_mode 1 >/dev/null
		bench_cmd use "$DESK_SITE" >/dev/null
	fi
}

# Sourced (by scripts/test.sh) for its functions; run for the whole setup.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then main "$@"; fi
