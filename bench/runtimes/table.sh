#!/usr/bin/env bash
# bench/runtimes/table.sh [-holds] OUT...: the README's tables from the records run.sh left in OUT
# (rows.jsonl: one line per run; <run>/census.csv: the rig's own census every second).
#
# Columns: sim's verdict and onset (sim run --target's summary); peak CLOSE_WAIT per watched port
# from the rig's census, with, at that moment, how many were held by the app (an fd of a
# process: accepted) and how many sat in the listen backlog (no process), and the LISTEN
# socket's Recv-Q/backlog; what was left when the rig was stopped; whether the rig answered
# its own /page requests after sim's probes; the runtime's events (watchdog kills, 504s, ...).
set -euo pipefail
(($#)) || { echo "usage: table.sh OUT..." >&2; exit 2; }
if [[ ${1:-} == -holds ]]; then
	shift
	# The socket engine (sim's Tomcat-like connector + HttpClient-like client) on the same profile
	# and seeds: bench/hazard/data/runs.csv, 16 workers, 30 rps (seed 1 was run twice there).
	declare -A engine=([1]="1.0 / 4.0" [2]="none" [3]="none" [4]="45.5" [5]="30.3")
	echo "| rig | seed | sim verdict | time to hang s (hang_after_stage_start_s) | socket engine, same seed | OK / sent | sim peak CLOSE_WAIT | CLOSE_WAIT at the end (held by app / in backlog) | load1 after | worst stall ms |"
	echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
	for out in "$@"; do
		[[ -f $out/rows.jsonl ]] || continue
		while IFS= read -r line; do
			run=$(jq -r .run <<<"$line")
			[[ $run == hold-s* ]] || continue
			seed=${run#hold-s}
			# The census at the end (after the probes): CLOSE_WAIT held by the app / in the backlog.
			pk=$(jq -r '.final_census' <<<"$line" | awk '{ for (i = 1; i <= NF; i++) { split($i, a, "[:/]"); if (a[2] > 0) printf ":%s %s (%s / %s) ", a[1], a[2], a[3], a[4] } }')
			pmv=$(grep -o ' pm=[a-z]*' "$out/$run/rig.txt" 2>/dev/null | cut -d= -f2 || true)
			jq -r --arg seed "$seed" --arg eng "${engine[$seed]:-?}" --arg pk "${pk:-none}" --arg pm "${pmv:-dynamic}" '
				"| \(.rig)\(if (.rig == "php-fpm") then " (" + $pm + ")" else "" end) | \($seed) | \(.verdict) | \(if .hang_after_stage_start_s == null then "none in 180" else (.hang_after_stage_start_s*100|round/100|tostring) end) | \($eng) | \(.ok) / \(.requests) | \(.peak_close_wait) | \($pk) | \(.load_after | split(" ")[0]) | \(.stall_max_ms // "-") |"' <<<"$line"
		done <"$out/rows.jsonl"
	done
	exit 0
fi
echo "| rig | run | variant | sim verdict | onset rps (t s) | capacity rps | OK / sent | sim peak CLOSE_WAIT (target port) | rig census peak CLOSE_WAIT per port: total (held by app / in backlog), Recv-Q/backlog | left at stop | own /page after probes | events | load1 after |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for out in "$@"; do
	[[ -f $out/rows.jsonl ]] || continue
	while IFS= read -r line; do
		run=$(jq -r .run <<<"$line")
		[[ $run == deadclients ]] && continue
		peaks=
		for p in $(jq -r .ports <<<"$line"); do
			pk=$(awk -F, -v p="$p" 'NR > 1 && $2 == p && $3 >= m { m = $3; l = $3 " (" $4 " / " $5 "), " $6 "/" $7 } END { print l }' "$out/$run/census.csv")
			peaks+=":$p ${pk:-none}; "
		done
		jq -r --arg peaks "${peaks%; }" '
			def r1: if . == null then "-" else (.*10|round/10|tostring) end;
			"| \(.rig) | \(.run) | \(.variant) | \(.verdict)\(if .recovered then " (recovered \(.recovery_s|r1) s)" else "" end) | \(.onset_rate_rps|r1) (\(if .hang_onset_s != null then .hang_onset_s else .collapse_onset_s end|r1)) | \(.capacity_rps|r1) | \(.ok) / \(.requests) | \(.peak_close_wait) | \($peaks) | \(.final_census | gsub(" $"; "")) | \(.own_answered_after) | \(.events | to_entries | map("\(.key) \(.value)") | join(", ")) | \(.load_after | split(" ")[0]) |"' <<<"$line"
	done <"$out/rows.jsonl"
done
