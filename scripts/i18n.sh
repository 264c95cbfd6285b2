#!/usr/bin/env bash
# Regenerate marketing_flows/locale/main.pot from the code (what `bench generate-pot-file --app
# marketing_flows` does, see scripts/i18n.py) and, with `update`, add the new msgids to da/de/no/sv.po
# (like `bench update-po-files`); the results are copied back into this checkout. Then translate
# the empty msgstr and run tests/test_i18n.py. Usage: scripts/i18n.sh [update]
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
source "$REPO_DIR/scripts/setup.sh"  # functions only (sync_app)

sync_app
app="$BENCH_DIR/apps/$APP_NAME"
(cd "$BENCH_DIR/sites" && as_frappe env MF_TEST_SITE="$TEST_SITE" "$BENCH_DIR/env/bin/python" "$app/scripts/i18n.py" "${1:-pot}")
cp "$app/$APP_NAME/locale/"*.pot "$app/$APP_NAME/locale/"*.po "$REPO_DIR/$APP_NAME/locale/" 2>/dev/null \
	|| cp "$app/$APP_NAME/locale/main.pot" "$REPO_DIR/$APP_NAME/locale/"
log "Catalogues in $REPO_DIR/$APP_NAME/locale: $(ls "$REPO_DIR/$APP_NAME/locale" | tr '\n' ' ')"
