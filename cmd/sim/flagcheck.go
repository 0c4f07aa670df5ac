package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/simdev/sim/internal/invalid"
	"github.com/simdev/sim/internal/redact"
	"github.com/simdev/sim/internal/serverconf"
	"github.com/simdev/sim/simulator/watch"
)

// maxPort is the highest TCP port.
const maxPort = 65535

// checkOut refuses an empty or blank output folder: the record would land in the current
// folder (--out "$UNSET_VARIABLE"), which no one asks for on purpose.
func checkOut(flag, dir string) error {
	if strings.TrimSpace(dir) == "" {
		return invalid.Field(flag, dir, "a folder; leave the flag out for the default")
	}
	return nil
}

// needs is a flag that means something only with some other flags: given without them it would
// be ignored without a word, which hides a mistake, so it is refused.
type needs struct {
	flag    string // without the dashes
	ok      bool   // whether the flag means something with the flags given
	allowed string // when it does
}

// checkNeeds refuses the first flag given on the command line whose rule does not hold.
func checkNeeds(fs *pflag.FlagSet, rules ...needs) error {
	for _, r := range rules {
		f := fs.Lookup(r.flag)
		if f == nil || !f.Changed || r.ok {
			continue
		}
		// A flag's value may be a URL with credentials: never echo them.
		return invalid.Field("--"+r.flag, redact.URL(f.Value.String()), r.allowed)
	}
	return nil
}

// check refuses run's flags that the mode ignores and an empty --out. The URLs themselves are
// checked by runExternal.
func (f runFlags) check(fs *pflag.FlagSet) error {
	if err := checkOut("--out", f.out); err != nil {
		return err
	}
	external := f.target != ""
	const withTarget = "only with --target, in external mode"
	if err := checkNeeds(fs,
		needs{"topology", !external, "not with --target: external mode attacks the server already running at --target, whatever its topology"},
		needs{"watch-port", external, withTarget + " (the port whose sockets are sampled)"},
		needs{"admin", external, withTarget + " (run starts its own admin listener otherwise)"},
		needs{"allow-remote", external, withTarget + " (run attacks its own loopback server otherwise)"},
		needs{"watch", external, withTarget + " (the sim watch agent beside the target counts its sockets)"},
		needs{"watch-port", f.watch == "", "not with --watch: the agent counts the sockets of the port it watches (sim watch --port)"},
	); err != nil {
		return err
	}
	// A token is never echoed, not even a misplaced one.
	if fs.Changed("watch-token") && f.watch == "" {
		return invalid.Field("--watch-token", fmt.Sprintf("(a token of %d characters)", len(f.watchToken)), "only with --watch (the token of the sim watch agent)")
	}
	return nil
}

// checkFlags refuses plan's flags that the other flags make meaningless and an empty --out.
func (f planFlags) checkFlags(fs *pflag.FlagSet) error {
	if err := checkOut("--out", f.out); err != nil {
		return err
	}
	const search = "not with --deadlock-only, which skips the SLO search that uses it"
	return checkNeeds(fs,
		needs{"ramp-duration", f.hangs, "only with a topology that can hang (" + serverconf.HangingTopologies() + "): the ramp measures the deadlock rate, and " + f.noHang + " has no deadlock"},
		needs{"steps", !f.deadlockOnly, search},
		needs{"step-duration", !f.deadlockOnly, search},
		needs{"slo-errors", !f.deadlockOnly, search},
	)
}

// checkPlanReport refuses report's flags that a plan's report has no place for.
func checkPlanReport(fs *pflag.FlagSet) error {
	const plan = "not with a plan folder: a plan's report takes its title and text from plan.json"
	return checkNeeds(fs, needs{"title", false, plan}, needs{"note", false, plan})
}

// checkTarget parses --target: an http:// or https:// URL with a host and, if it has one, a
// port from 1 to 65535, from which a request can be built; on loopback unless allowRemote.
// Errors show the URL with its credentials masked.
func checkTarget(raw string, allowRemote bool) (*url.URL, error) {
	bad := func(allowed string) error {
		return &invalid.Error{Field: "--target", Value: redact.URL(raw), Allowed: allowed}
	}
	if raw == "" {
		return nil, bad("a URL such as http://127.0.0.1:8080/app/page (--watch-port and --admin go with it)")
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Opaque != "" || u.Hostname() == "" {
		return nil, bad("an http:// or https:// URL with a host")
	}
	if _, err := urlPort(u); err != nil {
		return nil, bad(fmt.Sprintf("a URL whose port, if given, is 1 to %d (%v)", maxPort, err))
	}
	if _, err := http.NewRequest(http.MethodGet, raw, nil); err != nil {
		return nil, bad("a URL a request can be sent to")
	}
	if !allowRemote && !isLoopbackHost(u.Hostname()) {
		return nil, bad("a loopback host (127.0.0.0/8, ::1, localhost); --allow-remote attacks another machine")
	}
	return u, nil
}

// checkAdmin parses --admin, the base URL of a sim admin listener: plain http on loopback,
// with a port from 1 to 65535 if any, and nothing else (run appends /stats; the listener has no
// credentials to give). It returns the URL without a trailing slash.
func checkAdmin(raw string) (string, error) {
	bad := &invalid.Error{Field: "--admin", Value: redact.URL(raw),
		Allowed: fmt.Sprintf("the base URL of a sim admin listener on loopback, such as http://127.0.0.1:8081: http, a port from 1 to %d, no path, query or credentials", maxPort)}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.Opaque != "" || u.User != nil || u.RawQuery != "" || u.ForceQuery ||
		u.Fragment != "" || (u.Path != "" && u.Path != "/") || !isLoopbackHost(u.Hostname()) {
		return "", bad
	}
	if _, err := urlPort(u); err != nil {
		return "", bad
	}
	return strings.TrimSuffix(raw, "/"), nil
}

// checkWatch checks --watch, the URL of a sim watch agent: an http(s) base URL as the agent
// prints it (watch.NewClient's rule), on loopback unless allowRemote. Errors show the URL with
// its credentials masked.
func checkWatch(raw string, allowRemote bool) error {
	c, err := watch.NewClient(raw, "", time.Second)
	if err != nil {
		return err
	}
	c.Close()
	u, _ := url.Parse(raw) // NewClient parsed it
	if !allowRemote && !isLoopbackHost(u.Hostname()) {
		return invalid.Field("--watch", redact.URL(raw), "a sim watch agent on loopback (127.0.0.0/8, ::1, localhost); --allow-remote reads an agent on another host")
	}
	return nil
}

// urlPort is the port a URL connects to: its own, or its scheme's default.
func urlPort(u *url.URL) (int, error) {
	p := u.Port()
	if p == "" {
		return map[string]int{"http": 80, "https": 443}[u.Scheme], nil
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > maxPort {
		return 0, fmt.Errorf("port %s", p)
	}
	return n, nil
}

// maskedError is an error whose message has a URL's credentials masked; it unwraps to the
// original, so that its exit code is kept.
type maskedError struct {
	msg string
	err error
}

func (e *maskedError) Error() string { return e.msg }
func (e *maskedError) Unwrap() error { return e.err }

// maskErr masks the credentials of rawURL in err's message.
func maskErr(err error, rawURL string) error {
	if err == nil {
		return nil
	}
	msg := redact.Replacer(rawURL).Replace(err.Error())
	if msg == err.Error() {
		return err
	}
	return &maskedError{msg: msg, err: err}
}
