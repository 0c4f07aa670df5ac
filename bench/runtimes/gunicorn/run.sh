#!/usr/bin/env bash
# bench/runtimes/gunicorn/run.sh: Debian's gunicorn 20.1 (sync workers) with a Flask page that
# works 200 ms and fetches a static page from its own URL with `requests` (no session, no
# timeout), loaded by `sim run --target`. Modes and environment: see ../lib.sh.
#
#   bash bench/runtimes/gunicorn/run.sh install
#   bash bench/runtimes/gunicorn/run.sh ramp 2      # the uniform ramp, twice
#   bash bench/runtimes/gunicorn/run.sh split       # static page from a separate nginx
#   bash bench/runtimes/gunicorn/run.sh hold 1 2 3 4 5
#
# gunicorn as the issue measured it: 16 sync workers, --backlog 2048, --timeout 30 (the
# default), bound to 127.0.0.1 on a fresh port. The split variant needs nginx too.
RIG=gunicorn
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

PKGS=(gunicorn python3-flask python3-requests)
rig_install() { apt_install "${PKGS[@]}" nginx; }
rig_check_installed() { need_pkgs "${PKGS[@]}"; }

app_port= static_port= rig_dir=
rig_start() {
	local variant=$1 dir=$2
	[[ $variant == split ]] && need_pkgs nginx
	rig_dir=$dir
	mkdir -p "$dir/static"
	cp "$rt_root/simulator/static/page.html" "$dir/static/page.html"
	app_port=$(pick_port)
	local static_url
	split_static "$variant" "$dir" "http://$address:$app_port/static/page.html"
	: >"$dir/pages.log"
	RIG_STATIC_URL=$static_url RIG_PAGES_LOG=$dir/pages.log RIG_STATIC_DIR=$dir/static \
		spawn "$dir/gunicorn.log" gunicorn --chdir "$rt_here/gunicorn" --workers 16 --backlog 2048 \
		--timeout 30 --bind "$address:$app_port" --pid "$dir/gunicorn.pid" app:app
	wait_http "http://$address:$app_port/static/page.html" 30
	wait_http "http://$address:$app_port/page" 30
	echo "$variant static=$static_url" >"$dir/rig.txt"
}
rig_page_url() { echo "http://$address:$app_port/page"; }
rig_watch_ports() { echo "$app_port"; }
# The watchdog: the arbiter logs "WORKER TIMEOUT (pid:N)" for each worker it kills.
rig_events() {
	jq -cn --argjson t "$(grep -c 'WORKER TIMEOUT' "$1/gunicorn.log" || true)" \
		--argjson b "$(grep -c 'Booting worker' "$1/gunicorn.log" || true)" \
		--argjson s "$(grep -c '^start' "$1/pages.log" || true)" --argjson d "$(grep -c '^done' "$1/pages.log" || true)" \
		'{worker_timeouts: $t, workers_booted: $b, pages_started: $s, pages_done: $d}'
}
rig_collect() { :; }
rig_pages_started() { grep -c '^start' "$1/pages.log" || true; }

rig_main "$@"
