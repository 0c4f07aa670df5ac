package loadprofiles

import (
	"fmt"
	"time"

	"github.com/simdev/sim/internal/invalid"
)

// MaxShards is the most processes a profile's load can be split across: Kubernetes' limit on
// the completions of an Indexed Job (100,000), the engine sharded load is meant for.
const MaxShards = 100_000

// Shard is one of Count processes that share a profile's load, numbered from 0 (as a
// Kubernetes Indexed Job numbers its pods in JOB_COMPLETION_INDEX). Each sends 1/Count of the
// rate of every stage, so that together they send the profile's load; Profile.Shard says how
// the arrivals are split so that their union is the profile's own arrival process.
type Shard struct {
	Index int `json:"index"`
	Count int `json:"count"`
}

// String is the shard as `sim run --shard` takes it: "1/3".
func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

// Validate checks 1 <= Count <= MaxShards and 0 <= Index < Count; the error names field.
func (s Shard) Validate(field string) error {
	if s.Count < 1 || s.Count > MaxShards {
		return invalid.Field(field, s.String(), fmt.Sprintf("I/N with N (the number of shards) from 1 to %d", MaxShards))
	}
	if s.Index < 0 || s.Index >= s.Count {
		return invalid.Field(field, s.String(), fmt.Sprintf("I/N with I from 0 to N-1 (0-based, as JOB_COMPLETION_INDEX): 0 to %d here", s.Count-1))
	}
	return nil
}

// Shard returns the profile as shard s sends it, and the pacer of its arrivals. The profile is
// a copy whose every stage's rates (Target and From) are divided by s.Count, so that its
// RateAt, PeakRate and Duration are this shard's; for Poisson arrivals its Seed is derived
// from the profile's seed and s.Index (ShardSeed), so that the shards draw independent
// sequences and their union is a Poisson process at the full rate (a sum of independent
// Poisson processes is one, with the rates added). For uniform arrivals the pacer offsets
// shard i's hits by i/Count of a hit interval: the whole profile's hit m falls to shard m mod
// Count at the very time the unsharded pacer sends it, so the union is the evenly paced load.
// Shard{0, 1} is the profile itself with its own pacer.
func (p *Profile) Shard(s Shard) (*Profile, Pacer) {
	q := *p
	q.Stages = make([]Stage, len(p.Stages))
	n := float64(s.Count)
	for i, st := range p.Stages {
		st.Target /= n
		if st.From != nil {
			from := *st.From / n
			st.From = &from
		}
		q.Stages[i] = st
	}
	if q.Arrivals == ArrivalsPoisson {
		q.Seed = ShardSeed(p.Seed, s)
		return &q, q.Pacer()
	}
	// StagePacer sends hit k when the integral of the rate reaches k+½; this shard's integral
	// is the whole one's divided by Count, so its hit k at k+(Index+½)/Count is the whole
	// profile's hit k·Count+Index.
	return &q, &shardPacer{StagePacer: NewStagePacer(q.Stages), phase: (float64(s.Index) + 0.5) / n}
}

// ShardSeed is the Poisson seed of shard s of a profile seeded with seed: seed itself for a
// single shard, else SplitMix64 (Steele et al., the seeding mixer of java.util.SplittableRandom)
// of seed and the index, so that neighbouring indexes get unrelated PCG seeds. It is >= 0, as a
// profile's seed must be.
func ShardSeed(seed int64, s Shard) int64 {
	if s.Count <= 1 {
		return seed
	}
	z := uint64(seed) + uint64(s.Index+1)*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	return int64(z >> 1)
}

var _ Pacer = (*shardPacer)(nil)

// shardPacer is a StagePacer whose hits are due at the integral k+phase instead of k+½.
type shardPacer struct {
	*StagePacer
	phase float64
}

// Pace implements vegeta.Pacer as StagePacer.Pace does, with the shard's phase.
func (sp *shardPacer) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	if elapsed >= sp.total {
		return 0, true
	}
	return sp.paceTo(elapsed, float64(hits)+sp.phase)
}
