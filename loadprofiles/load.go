package loadprofiles

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"

	"github.com/simdev/sim/internal/invalid"
	"github.com/simdev/sim/internal/userfile"
	"github.com/simdev/sim/internal/yamldoc"
)

// builtinFS holds the built-in profiles. A package-level variable because go:embed needs one;
// it is read-only.
//
//go:embed builtin/*.yaml
var builtinFS embed.FS

const builtinDir = "builtin"

// Builtin returns the names of the built-in profiles, sorted.
func Builtin() []string {
	entries, err := fs.ReadDir(builtinFS, builtinDir)
	if err != nil {
		// The directory is embedded at build time; it cannot be missing at run time.
		panic(fmt.Sprintf("loadprofiles: embedded profiles: %v", err))
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	slices.Sort(names)
	return names
}

// BuiltinDescription returns the one-line description of a built-in profile, for listings; ok is
// false when there is no built-in profile of that name.
func BuiltinDescription(name string) (description string, ok bool) {
	if !isBuiltinName(name) {
		return "", false
	}
	data, err := builtinFS.ReadFile(builtinDir + "/" + name + ".yaml")
	if err != nil {
		return "", false
	}
	p, err := Parse(name, data)
	if err != nil {
		return "", false
	}
	return p.Description, true
}

// Load returns the profile nameOrPath names, normalized and validated, within DefaultLimits.
// A bare name (no path separator, no .yaml or .yml suffix) selects a built-in profile; anything
// else is read as a file. Which profile to load is the caller's input (a flag), so errors about
// it leave Source empty for the caller to fill; errors inside a file carry the path as Source.
func Load(nameOrPath string) (*Profile, error) {
	return LoadWithLimits(nameOrPath, DefaultLimits())
}

// LoadWithLimits is Load with the caller's limits instead of DefaultLimits: the way a user
// asks for more load than the defaults allow. Invalid limits are an *invalid.Error too.
func LoadWithLimits(nameOrPath string, limits Limits) (*Profile, error) {
	if err := limits.Validate(); err != nil {
		return nil, err
	}
	p, err := load(nameOrPath)
	if err != nil {
		return nil, err
	}
	if err := limits.Check(p); err != nil {
		if e, ok := err.(*invalid.Error); ok {
			e.Source = nameOrPath
		}
		return nil, err
	}
	return p, nil
}

func load(nameOrPath string) (*Profile, error) {
	if isBuiltinName(nameOrPath) {
		data, err := builtinFS.ReadFile(builtinDir + "/" + nameOrPath + ".yaml")
		if err != nil {
			return nil, &invalid.Error{Field: "profile", Value: nameOrPath, Allowed: allowedProfiles()}
		}
		return Parse(nameOrPath, data)
	}
	data, err := userfile.Read("profile", nameOrPath, MaxFileSize)
	if err != nil {
		var ie *invalid.Error
		if errors.Is(err, fs.ErrNotExist) && errors.As(err, &ie) {
			ie.Allowed = "an existing YAML file, or " + allowedProfiles()
		}
		return nil, err
	}
	return Parse(nameOrPath, data)
}

func allowedProfiles() string {
	return "one of " + strings.Join(Builtin(), ", ") + ", or a path to a YAML file"
}

func isBuiltinName(s string) bool {
	lower := strings.ToLower(s)
	return !strings.ContainsRune(s, '/') && !strings.ContainsRune(s, filepath.Separator) &&
		!strings.HasSuffix(lower, ".yaml") && !strings.HasSuffix(lower, ".yml")
}

// Parse reads a profile from YAML. name is the profile's name or its file path: it is the Source
// of every error, and its base name without extension is the profile's Name when the YAML sets
// none. The result is normalized and validated.
//
// Keys the schema does not know are rejected rather than ignored, since a misspelt key
// ("tagret") would otherwise silently run a different load than the one written. Durations
// need a unit ("10s"): a bare number other than 0 is rejected, because "duration: 10" could mean
// seconds or, as Go reads it, nanoseconds.
func Parse(name string, data []byte) (*Profile, error) {
	// yamldoc rather than viper: viper folds keys to lower case, so "target" and "Target" in
	// one mapping merged silently, and yaml.v3's decoder compares every pair of keys of a
	// mapping (100,000 keys took minutes). yamldoc refuses the first and is linear.
	raw, err := yamldoc.Decode(data)
	if err != nil {
		var ie *invalid.Error
		if errors.As(err, &ie) {
			ie.Source = name
			if ie.Field == "yaml" {
				ie.Allowed += ": a mapping with keys " + strings.Join(keysOf(reflect.TypeFor[Profile]()), ", ")
			}
		}
		return nil, err
	}
	if len(raw) == 0 {
		return nil, &invalid.Error{Field: "profile", Value: nil, Source: name,
			Allowed: "a YAML mapping with at least a stages list, e.g. stages: [{duration: 10s, target: 40}]"}
	}
	// Checked before decoding so that the error can say which keys are allowed where, and
	// suggest the nearest one.
	if err := checkKeys(raw, reflect.TypeFor[Profile](), ""); err != nil {
		err.Source = name
		return nil, err
	}
	if err := requireTargets(raw); err != nil {
		err.Source = name
		return nil, err
	}
	// Decoding onto the defaults leaves them in place for keys the file omits, while a key set
	// to 0 stays 0 and is validated as written: "timeout: 0" must not silently become 2s.
	p := defaults()
	cfg := &mapstructure.DecoderConfig{Result: &p}
	decoderConfig(cfg)
	dec, err := mapstructure.NewDecoder(cfg)
	if err != nil {
		return nil, fmt.Errorf("profile decoder: %w", err)
	}
	// The server section is read by the server's schema (decodeServer), after the fields
	// before it in the struct, as the decoder would have.
	rest := maps.Clone(raw)
	delete(rest, serverSection)
	if err := dec.Decode(rest); err != nil {
		return nil, decodeError(name, raw, err)
	}
	if p.Server, err = decodeServer(name, raw); err != nil {
		return nil, err
	}
	if p.Name == "" {
		p.Name = baseName(name)
	}
	if err := p.validate(name); err != nil {
		return nil, err
	}
	p.Normalize()
	return &p, nil
}

func baseName(name string) string {
	base := filepath.Base(name)
	for _, ext := range []string{".yaml", ".yml", ".YAML", ".YML"} {
		base = strings.TrimSuffix(base, ext)
	}
	return base
}

// requireTargets rejects a stage that leaves out its target. Decoded, it would be 0 and valid,
// so a stage written as "- duration: 10s" would quietly ramp the load down to nothing.
func requireTargets(raw map[string]any) *invalid.Error {
	stages, _ := raw["stages"].([]any)
	for i, s := range stages {
		m, ok := s.(map[string]any)
		if !ok {
			continue // the decoder reports the wrong shape
		}
		if v, ok := m["target"]; !ok || v == nil {
			return &invalid.Error{Field: fmt.Sprintf("stages[%d].target", i), Value: nil,
				Allowed: "a rate >= 0 requests/second; every stage needs one"}
		}
	}
	return nil
}

// MaxFileSize caps the size of a profile file Load reads. The built-in profiles are under 2 KiB;
// a generated profile of one stage every 10 s for a whole day (MaxDuration, 8,640 stages of
// ~40 bytes) is about 350 KiB. 512 KiB leaves room for comments, keeps a mistaken path (a log,
// a disk image) from being read into memory, and bounds the parse: the slowest profile at the
// cap (all stages) parses in about 0.4 s on the 2-core machine of PITFALLS.md.
const MaxFileSize = 512 << 10

// Default limits of Load. Parse itself enforces only the hard ceilings MaxTarget and
// MaxDuration; these are lower, so that a typo ("50000" for "500", "1000h" for "10m") is refused
// instead of flooding or occupying the machine, and a caller lifts them on purpose
// (LoadWithLimits; `sim run --max-rate/--max-duration`).
const (
	// DefaultMaxRate is the highest rate (requests/second) a stage may reach. PITFALLS.md:
	// vegeta's runs collapse above ~2,500 rps on this kind of 2-core machine with default
	// settings, and the split topology with the default self-call pool peaks at ~2,000 rps; the
	// deadlock experiments run at tens to hundreds. 5,000 cuts no run of the kind sim is for;
	// a capacity benchmark of a large pool with no work (bench/run.sh: ~11,000 rps) lifts it
	// with --max-rate on purpose.
	DefaultMaxRate = 5000.0
	// DefaultMaxDuration caps the load (the stages in all) and, separately, the recovery
	// probing. The built-in profiles run for under two minutes and the full incident preset
	// for about three; an hour leaves room for a long ramp, and a soak test beyond it is a
	// choice made with the flag, not by a slip.
	DefaultMaxDuration = time.Hour
	// MaxTimeout caps the client and probe timeouts, which no limit lifts: an interrupted run
	// waits up to client.timeout for vegeta's requests in flight (vegeta cannot cancel them),
	// and vegeta's own default is 30 s; beyond a few minutes a timeout only makes Ctrl-C hang.
	MaxTimeout = 5 * time.Minute
)

// Limits caps what a profile may ask of the machine that runs it, on top of the hard ceilings
// Parse enforces. A caller may lift them up to those ceilings (MaxTarget, MaxDuration) and no
// further.
type Limits struct {
	// MaxRate is the highest rate, requests/second, a stage may start or end at; > 0 and
	// <= MaxTarget.
	MaxRate float64
	// MaxDuration caps the stages' total duration and, on its own, recovery.duration; > 0 and
	// <= MaxDuration.
	MaxDuration time.Duration
	// RateSetting and DurationSetting name how the user lifts each limit (for a command, its
	// flag: "--max-rate"), so that the message can say so; empty leaves that out.
	RateSetting, DurationSetting string
}

// DefaultLimits returns the limits Load applies: DefaultMaxRate and DefaultMaxDuration.
func DefaultLimits() Limits {
	return Limits{MaxRate: DefaultMaxRate, MaxDuration: DefaultMaxDuration}
}

// Validate checks the limits themselves: each > 0 and at most its hard ceiling. The Field of
// the *invalid.Error is the limit's setting when named.
func (l Limits) Validate() error {
	if !(l.MaxRate > 0 && l.MaxRate <= MaxTarget) {
		return invalid.Field(orDefault(l.RateSetting, "max_rate"), l.MaxRate,
			fmt.Sprintf("a rate > 0 and <= %g requests/second", MaxTarget))
	}
	if l.MaxDuration <= 0 || l.MaxDuration > MaxDuration {
		return invalid.Field(orDefault(l.DurationSetting, "max_duration"), l.MaxDuration,
			fmt.Sprintf("a duration > 0 and <= %s", MaxDuration))
	}
	return nil
}

// Check returns the first part of p beyond the limits, as an *invalid.Error naming the field by
// its YAML path; p is a validated profile. It also refuses a profile that offers no request at
// all (every target 0), which would run, sample an idle server and report it fine.
func (l Limits) Check(p *Profile) error {
	for i, s := range p.Stages {
		if s.From != nil && *s.From > l.MaxRate {
			return l.rateError(fmt.Sprintf("stages[%d].from", i), *s.From)
		}
		if s.Target > l.MaxRate {
			return l.rateError(fmt.Sprintf("stages[%d].target", i), s.Target)
		}
	}
	if d := p.Duration(); d > l.MaxDuration {
		return l.durationError("stages", fmt.Sprintf("%s in all", d), "a total duration")
	}
	if hits := p.Pacer().Hits(); hits < 1 {
		return invalid.Field("stages", fmt.Sprintf("%.3g requests in all", hits),
			"stages that offer at least one request: a target > 0 for long enough")
	}
	if p.Recovery.Duration > l.MaxDuration {
		return l.durationError("recovery.duration", p.Recovery.Duration, "a duration")
	}
	if p.Client.Timeout > MaxTimeout {
		return invalid.Field("client.timeout", p.Client.Timeout, fmt.Sprintf("a duration > 0 and <= %s", MaxTimeout))
	}
	if p.Recovery.Timeout > MaxTimeout {
		return invalid.Field("recovery.timeout", p.Recovery.Timeout, fmt.Sprintf("a duration > 0 and <= %s", MaxTimeout))
	}
	return nil
}

func (l Limits) rateError(field string, v float64) error {
	return invalid.Field(field, v, fmt.Sprintf("a rate <= %g requests/second, the rate limit%s", l.MaxRate,
		lift(l.RateSetting, l.MaxRate < MaxTarget, fmt.Sprint(MaxTarget))))
}

func (l Limits) durationError(field string, v any, what string) error {
	return invalid.Field(field, v, fmt.Sprintf("%s <= %s, the duration limit%s", what, l.MaxDuration,
		lift(l.DurationSetting, l.MaxDuration < MaxDuration, MaxDuration.String())))
}

// lift says how a limit below its ceiling is raised, when the caller named its setting.
func lift(setting string, liftable bool, ceiling string) string {
	if !liftable || setting == "" {
		return ""
	}
	return "; " + setting + " raises it up to " + ceiling
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
