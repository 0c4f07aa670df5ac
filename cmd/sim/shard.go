package main

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/simdev/sim/internal/invalid"
	"github.com/simdev/sim/loadprofiles"
)

// shardHelp is the --shard paragraph of `sim run --help`.
const shardHelp = `--shard I/N (external mode) makes this process one of N that share the profile's load, on
this machine or in the pods of a Kubernetes Indexed Job (--shard $(JOB_COMPLETION_INDEX)/N in
the Job's args: Kubernetes expands the variable, which the Job controller sets in every pod).
I is 0-based, 0 to N-1. Each shard sends 1/N of every stage's rate: poisson arrivals with a
seed of its own derived from the profile's seed and I (the shards together are a Poisson
process at the full rate), uniform arrivals offset by I/N of the hit interval (together they
are the evenly paced load, hit for hit). config.json records the shard and when its attack
started; 'sim report --merge' merges the N records into one and judges it.`

// parseShard reads --shard I/N: two decimal numbers, I from 0 to N-1 (0-based, as a Kubernetes
// Indexed Job's JOB_COMPLETION_INDEX) and N from 1 to loadprofiles.MaxShards.
func parseShard(raw string) (loadprofiles.Shard, error) {
	bad := invalid.Field("--shard", raw, fmt.Sprintf(
		"I/N, two whole numbers: this process's index I from 0 to N-1 (0-based, as JOB_COMPLETION_INDEX) and the number of shards N from 1 to %d, e.g. 0/3", loadprofiles.MaxShards))
	i, n, ok := strings.Cut(raw, "/")
	if !ok {
		return loadprofiles.Shard{}, bad
	}
	index, err1 := parseCount(i)
	count, err2 := parseCount(n)
	if err1 != nil || err2 != nil {
		return loadprofiles.Shard{}, bad
	}
	s := loadprofiles.Shard{Index: index, Count: count}
	if err := s.Validate("--shard"); err != nil {
		var ie *invalid.Error
		if errors.As(err, &ie) {
			ie.Value = raw // as the user wrote it, leading zeros and all
		}
		return loadprofiles.Shard{}, err
	}
	return s, nil
}

// parseCount reads a whole number written with digits only: no sign, space or base prefix,
// which Atoi would take ("+1") or which would read as a mistake ("0x1").
func parseCount(s string) (int, error) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" || len(s) > len(strconv.Itoa(loadprofiles.MaxShards)) {
		return 0, fmt.Errorf("not a whole number: %q", s)
	}
	return strconv.Atoi(s)
}

// checkShardMode refuses --shard without --target: the N shards must load one app that is
// already running; in child mode each would start, and load, its own.
func checkShardMode(fs *pflag.FlagSet, external bool) error {
	return checkNeeds(fs, needs{"shard", external,
		"only with --target, in external mode: the shards load one app already running (in child mode each would start its own)"})
}

// shardLabel names a shard's record folder, so that shards started in the same second into
// one --out get folders of their own that say which they are: "external-shard1of3".
func shardLabel(s loadprofiles.Shard) string {
	return fmt.Sprintf("external-shard%dof%d", s.Index, s.Count)
}

// printShard follows a shard's summary: what share it sent, and how its record joins the others.
func printShard(w io.Writer, s loadprofiles.Shard) {
	fmt.Fprintf(w, "  %-15s %s: 1/%d of the profile's rate (the summary above is this shard's share); merge the %d records with 'sim report --merge'\n",
		"shard", s, s.Count, s.Count)
}
