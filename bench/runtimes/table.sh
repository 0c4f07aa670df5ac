#!/usr/bin/env bash
# bench/runtimes/table.sh OUT...: the README's tables from the records run.sh left in OUT
# (rows.jsonl: one line per run; <run>/census.csv: the rig's own census every second).
#
# Columns: sim's verdict and onset (sim run --target's summary); peak CLOSE_WAIT per watched port
# from the rig's census, with, at that moment, how many were held by the app (an fd of a
# process: accepted) and how many sat in the listen backlog (no process), and the LISTEN
# socket's Recv-Q/backlog; what was left when the rig was stopped; whether the rig answered
# its own /page requests after sim's probes; the runtime's events (watchdog kills, 504s, ...).
set -euo pipefail
(($#)) || { echo "usage: table.sh OUT..." >&2; exit 2; }
echo "| rig | run | variant | sim verdict | onset rps (t s) | capacity rps | OK / sent | peak CLOSE_WAIT per port: total (held by app / in backlog), Recv-Q/backlog | left at stop | own /page after probes | events | load1 after |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
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
			"| \(.rig) | \(.run) | \(.variant) | \(.verdict)\(if .recovered then " (recovered \(.recovery_s|r1) s)" else "" end) | \(.onset_rate_rps|r1) (\(.hang_onset_s|r1)) | \(.capacity_rps|r1) | \(.ok) / \(.requests) | \($peaks) | \(.final_census | gsub(" $"; "")) | \(.own_answered_after) | \(.events | to_entries | map("\(.key) \(.value)") | join(", ")) | \(.load_after | split(" ")[0]) |"' <<<"$line"
	done <"$out/rows.jsonl"
done
