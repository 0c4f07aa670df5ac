#!/usr/bin/env bash
# bench/runtimes/puma/run.sh: Debian's Puma 5.6 (Ruby 3.1) in single mode with 16 threads, a
# Rack page that works 200 ms and fetches a static page from its own URL with Net::HTTP (its
# default 60 s open/read timeouts and one retry of an idempotent GET: see config.ru), loaded by
# `sim run --target`. Modes and environment: see ../lib.sh.
#
#   bash bench/runtimes/puma/run.sh install
#   bash bench/runtimes/puma/run.sh ramp
#
# puma -t 16:16 (min = max threads: the pool does not grow or shrink during the run) in single
# mode (no -w), bound to tcp://127.0.0.1:PORT (Puma's default backlog 1024), queue_requests on
# (the default). The split variant's page fetches from a separate nginx.
RIG=puma
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

PKGS=(puma)
rig_install() { apt_install puma nginx; }
rig_check_installed() { need_pkgs "${PKGS[@]}"; }

app_port= static_port=
rig_start() {
	local variant=$1 dir=$2
	[[ $variant == split ]] && need_pkgs nginx
	mkdir -p "$dir"
	cp "$rt_root/simulator/static/page.html" "$dir/page.html"
	app_port=$(pick_port)
	local static_url
	split_static "$variant" "$dir" "http://$address:$app_port/static/page.html"
	: >"$dir/pages.log"
	RIG_STATIC_URL=$static_url RIG_STATIC_FILE=$dir/page.html RIG_PAGES_LOG=$dir/pages.log \
		spawn "$dir/puma.log" puma -t 16:16 -b "tcp://$address:$app_port" -e production "$rt_here/puma/config.ru"
	wait_http "http://$address:$app_port/static/page.html" 30
	wait_http "http://$address:$app_port/page" 30
	echo "$variant static=$static_url" >"$dir/rig.txt"
}
rig_page_url() { echo "http://$address:$app_port/page"; }
rig_watch_ports() { echo "$app_port"; }
rig_events() {
	jq -cn --argjson s "$(grep -c '^start' "$1/pages.log" || true)" --argjson d "$(grep -c '^done' "$1/pages.log" || true)" \
		--argjson f "$(grep -c '^fail' "$1/pages.log" || true)" \
		--argjson rt "$(grep -c '^fail.*ReadTimeout' "$1/pages.log" || true)" \
		--argjson ot "$(grep -c '^fail.*OpenTimeout' "$1/pages.log" || true)" \
		'{pages_started: $s, pages_done: $d, pages_failed: $f, read_timeouts: $rt, open_timeouts: $ot}'
}
rig_collect() { :; }
rig_pages_started() { grep -c '^start' "$1/pages.log" || true; }

rig_main "$@"
