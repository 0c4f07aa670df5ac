package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/simdev/sim/internal/invalid"
	"github.com/simdev/sim/loadprofiles"
	"github.com/simdev/sim/results"
	"github.com/simdev/sim/simulator/app"
)

// refuseWithin is how long a refusal may take: bad input is refused before anything runs, and
// a case that is wrongly accepted (a serve that serves, a run that runs) is stopped after it.
const refuseWithin = 5 * time.Second

// simRunFor runs the sim binary in dir with env for at most limit; a command still running
// then is killed and reported as exit -1 with how long it ran.
func simRunFor(t *testing.T, dir string, env []string, limit time.Duration, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, simBin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		return -1, stdout.String(), fmt.Sprintf("still running after %s (killed): %s", limit, stderr.String())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), stdout.String(), stderr.String()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, stdout.String(), stderr.String()
}

// Bad flags, URLs and flag combinations: the second table of bad input (TestBadInputExits2 has
// the first). Each case exits 2 at once, names the flag or key and the value, writes nothing
// (neither under the out folder nor in the working folder) and prints no secret.
func TestBadInputFlags(t *testing.T) {
	dir := t.TempDir()
	const target = "http://127.0.0.1:1/page" // never dialled: every case is refused first
	rec := filepath.Join(dir, "rec")
	writeRecord(t, rec, "self")
	plan := filepath.Join(dir, "plan")
	os.MkdirAll(plan, 0o755)
	writeFile(t, plan, "plan.json", fmt.Sprintf(`{"schema_version": %d, "topology": "self", "work_time_s": 0.2,
		"rows": [{"max_threads": 16, "arrivals": "uniform", "predicted_rps": 78}]}`, results.PlanSchemaVersion))
	serveYAML := func(name, yaml string) string { return writeFile(t, dir, "serve-"+name+".yaml", yaml) }
	linked := filepath.Join(dir, "linked")
	writeRecord(t, linked, "self")
	if err := os.Symlink(t.TempDir(), filepath.Join(linked, "charts")); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		args  []string // OUT is replaced by the case's out folder
		env   []string
		field string
		value string
		// secret must appear nowhere in the output.
		secret string
	}{
		// 4. Target and other URLs we cannot use: refused naming the flag and the value.
		{name: "target port 0", args: []string{"run", "--target", "http://127.0.0.1:0/page", "--out", "OUT"}, field: "--target", value: "http://127.0.0.1:0/page"},
		{name: "target port 65536", args: []string{"run", "--target", "http://127.0.0.1:65536/page", "--out", "OUT"}, field: "--target", value: "http://127.0.0.1:65536/page"},
		{name: "target port 99999 with --watch-port", args: []string{"run", "--target", "http://127.0.0.1:99999/", "--watch-port", "8080", "--out", "OUT"}, field: "--target", value: "99999"},
		{name: "target IPv6 port 0", args: []string{"run", "--target", "http://[::1]:0/page", "--out", "OUT"}, field: "--target", value: "[::1]:0"},
		{name: "target port not a number", args: []string{"run", "--target", "http://127.0.0.1:http/page", "--out", "OUT"}, field: "--target", value: "127.0.0.1:http"},
		{name: "target without a host", args: []string{"run", "--target", "http:///page", "--out", "OUT"}, field: "--target", value: "http:///page"},
		{name: "target opaque", args: []string{"run", "--target", "http:127.0.0.1:8080", "--out", "OUT"}, field: "--target", value: "http:127.0.0.1:8080"},
		{name: "target not http", args: []string{"run", "--target", "ws://127.0.0.1:8080/", "--out", "OUT"}, field: "--target", value: "ws://"},
		{name: "watch-port 0", args: []string{"run", "--target", target, "--watch-port", "0", "--out", "OUT"}, field: "--watch-port", value: "0"},
		{name: "admin port 0", args: []string{"run", "--target", target, "--admin", "http://127.0.0.1:0", "--out", "OUT"}, field: "--admin", value: "http://127.0.0.1:0"},
		{name: "admin port 70000", args: []string{"run", "--target", target, "--admin", "http://127.0.0.1:70000", "--out", "OUT"}, field: "--admin", value: "70000"},
		{name: "admin with a path", args: []string{"run", "--target", target, "--admin", "http://127.0.0.1:8081/stats", "--out", "OUT"}, field: "--admin", value: "/stats"},
		{name: "admin with a query", args: []string{"run", "--target", target, "--admin", "http://127.0.0.1:8081?x=1", "--out", "OUT"}, field: "--admin", value: "x=1"},
		{name: "admin with credentials", args: []string{"run", "--target", target, "--admin", "http://ops:adm1nPw@127.0.0.1:8081", "--out", "OUT"}, field: "--admin", value: "ops:xxxxx@127.0.0.1:8081", secret: "adm1nPw"},
		{name: "serve static-url port 0", args: []string{"serve", "--topology", "split", "--static-url", "http://127.0.0.1:0"}, field: "static.url", value: "http://127.0.0.1:0"},
		{name: "serve static-url port 70000", args: []string{"serve", "--topology", "split", "--static-url", "http://nginx:70000"}, field: "static.url", value: "http://nginx:70000"},

		// 9. Flags that mean something only with another flag, or an empty folder.
		{name: "run --topology with --target", args: []string{"run", "--topology", "split", "--target", target, "--out", "OUT"}, field: "--topology", value: "split"},
		{name: "run --topology self with --target", args: []string{"run", "--topology", "self", "--target", target, "--out", "OUT"}, field: "--topology", value: "self"},
		{name: "run --allow-remote without --target", args: []string{"run", "--allow-remote", "--out", "OUT"}, field: "--allow-remote", value: "true"},
		{name: "run --watch-port without --target", args: []string{"run", "--watch-port", "8080", "--out", "OUT"}, field: "--watch-port", value: "8080"},
		{name: "run --admin without --target", args: []string{"run", "--admin", "http://127.0.0.1:8081", "--out", "OUT"}, field: "--admin", value: "http://127.0.0.1:8081"},
		{name: "run --out empty", args: []string{"run", "--out", ""}, field: "--out", value: `""`},
		{name: "run --out blank", args: []string{"run", "--out", "  "}, field: "--out", value: `"  "`},
		{name: "run external --out empty", args: []string{"run", "--target", target, "--out", ""}, field: "--out", value: `""`},
		{name: "compare --out empty", args: []string{"compare", "--out", ""}, field: "--out", value: `""`},
		{name: "plan --out empty", args: []string{"plan", "--out", ""}, field: "--out", value: `""`},
		{name: "reproduce --out empty", args: []string{"reproduce", "--static", "embedded", "--out", ""}, field: "--out", value: `""`},
		{name: "report --out empty", args: []string{"report", "--out", "", rec}, field: "--out", value: `""`},
		{name: "plan --ramp-duration with split", args: []string{"plan", "--topology", "split", "--ramp-duration", "10s", "--out", "OUT"}, field: "--ramp-duration", value: "10s"},
		{name: "plan --steps with --deadlock-only", args: []string{"plan", "--deadlock-only", "--steps", "3", "--out", "OUT"}, field: "--steps", value: "3"},
		{name: "plan --step-duration with --deadlock-only", args: []string{"plan", "--deadlock-only", "--step-duration", "5s", "--out", "OUT"}, field: "--step-duration", value: "5s"},
		{name: "plan --slo-errors with --deadlock-only", args: []string{"plan", "--deadlock-only", "--slo-errors", "2%", "--out", "OUT"}, field: "--slo-errors", value: "2%"},
		{name: "report --title with a plan", args: []string{"report", "--title", "mine", "--out", "OUT", plan}, field: "--title", value: "mine"},
		{name: "report --note with a plan", args: []string{"report", "--note", "hello", "--out", "OUT", plan}, field: "--note", value: "hello"},
		{name: "serve negative keep-alive-timeout", args: []string{"serve", "--keep-alive-timeout=-5s"}, field: "keep_alive_timeout", value: "-5s"},
		{name: "serve keep-alive-timeout -1ns", args: []string{"serve", "--keep-alive-timeout=-1ns"}, field: "keep_alive_timeout", value: "-1ns"},
		{name: "serve negative keep-alive-timeout in env", args: []string{"serve"}, env: []string{"SIM_KEEP_ALIVE_TIMEOUT=-5s"}, field: "keep_alive_timeout", value: "-5s"},
		{name: "serve negative keep-alive-timeout in config", args: []string{"serve", "--config", serveYAML("ka", "keep_alive_timeout: -5s\n")}, field: "keep_alive_timeout", value: "-5s"},
		{name: "serve static-dir with self", args: []string{"serve", "--static-dir", dir}, field: "static.dir", value: dir},
		{name: "serve static-dir with embedded", args: []string{"serve", "--topology", "split", "--static-dir", dir}, field: "static.dir", value: dir},
		{name: "serve static-addr with self", args: []string{"serve", "--static-addr", "127.0.0.1:18088"}, field: "static_addr", value: "127.0.0.1:18088"},
		{name: "serve static-addr with static-url", args: []string{"serve", "--topology", "split", "--static-url", "http://127.0.0.1:8088", "--static-addr", "127.0.0.1:18088"}, field: "static_addr", value: "127.0.0.1:18088"},
		{name: "serve max-connections with bio", args: []string{"serve", "--connector", "bio", "--max-connections", "50"}, field: "max_connections", value: "50"},
		{name: "serve work-time-seed with fixed", args: []string{"serve", "--work-time-seed", "7"}, field: "work_time_seed", value: "7"},

		// 12. Runtimes: unknown names, a runtime with a topology it does not run, --runtime
		// where the server is not sim's.
		{name: "run unknown runtime", args: []string{"run", "--runtime", "tomcatt", "--out", "OUT"}, field: "--runtime", value: "tomcatt"},
		{name: "run runtime with --target", args: []string{"run", "--runtime", "gunicorn", "--target", target, "--out", "OUT"}, field: "--runtime", value: "gunicorn"},
		{name: "run gunicorn on async", args: []string{"run", "--runtime", "gunicorn", "--topology", "async", "--engine", "model", "--out", "OUT"}, field: "topology", value: "async"},
		{name: "compare unknown runtime in list", args: []string{"compare", "--runtimes", "tomcat,unicorn", "--out", "OUT"}, field: "--runtimes", value: "unicorn"},
		{name: "compare runtime listed twice", args: []string{"compare", "--runtimes", "puma,puma", "--out", "OUT"}, field: "--runtimes", value: "puma,puma"},
		{name: "compare --runtime with --runtimes", args: []string{"compare", "--runtime", "puma", "--runtimes", "all", "--out", "OUT"}, field: "--runtime", value: "puma"},
		{name: "compare runtimes none of which runs the topology", args: []string{"compare", "--runtimes", "gunicorn,puma", "--topologies", "async", "--engine", "model", "--out", "OUT"}, field: "--topologies", value: "async"},
		{name: "plan unknown runtime", args: []string{"plan", "--runtime", "iis", "--out", "OUT"}, field: "--runtime", value: "iis"},
		{name: "plan runtime twice", args: []string{"plan", "--runtime", "puma", "--server", "runtime=jetty", "--out", "OUT"}, field: "--server", value: "runtime"},
		{name: "serve unknown runtime", args: []string{"serve", "--runtime", "node"}, field: "runtime", value: "node"},
		{name: "serve runtime in env with a topology it does not run", args: []string{"serve", "--topology", "bounded-queue"}, env: []string{"SIM_RUNTIME=php-fpm"}, field: "topology", value: "bounded-queue"},

		// 11. A link inside the folder a report is written to.
		{name: "report into a linked charts folder", args: []string{"report", linked}, field: filepath.Join(linked, "charts"), value: "symbolic link"},

		// 10. Credentials in a refused target are not printed.
		{name: "remote target with credentials", args: []string{"run", "--target", "http://alice:s3cr3tPw@10.0.0.1/page", "--out", "OUT"}, field: "--target", value: "http://alice:xxxxx@10.0.0.1/page", secret: "s3cr3tPw"},
		{name: "target port 0 with credentials", args: []string{"run", "--target", "http://alice:s3cr3tPw@127.0.0.1:0/page", "--out", "OUT"}, field: "--target", value: "alice:xxxxx@", secret: "s3cr3tPw"},
		{name: "target with a token as user name", args: []string{"run", "--target", "http://tok3nValue@10.0.0.1/page", "--out", "OUT"}, field: "--target", value: "http://xxxxx@10.0.0.1/page", secret: "tok3nValue"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "runs")
			wd := t.TempDir()
			args := append([]string(nil), tt.args...)
			for i, a := range args {
				if a == "OUT" {
					args[i] = out
				}
			}
			start := time.Now()
			code, stdout, stderr := simRunFor(t, wd, tt.env, refuseWithin, args...)
			took := time.Since(start)
			if code != exitBadInput {
				t.Fatalf("exit %d, want 2; stderr %q", code, stderr)
			}
			if took > 2*time.Second {
				t.Errorf("refusal took %s: bad input must be refused before anything runs", took)
			}
			mustContain(t, "message", stderr, tt.field, tt.value)
			if args[0] == "serve" && stdout != "" {
				t.Errorf("announced listeners for a bad config: %q", stdout)
			}
			if tt.secret != "" && strings.Contains(stdout+stderr, tt.secret) {
				t.Errorf("printed the secret %q: %s%s", tt.secret, stdout, stderr)
			}
			if left, err := os.ReadDir(out); err == nil && len(left) > 0 {
				t.Errorf("bad input left %v in %s", names(left), out)
			}
			if left, _ := os.ReadDir(wd); len(left) > 0 {
				t.Errorf("bad input left %v in the working folder", names(left))
			}
		})
	}
}

// Every value the profile's server section refuses, sim serve refuses too, whether it comes
// from a flag, a SIM_* variable or a --config file: one key, one check. The keys are those the
// profile and serve share, found from the profile's schema, so that a new key is covered.
func TestBadInputFlagsServeMatchesProfile(t *testing.T) {
	// A bad value per type: no duration key may be negative, no whole-number key below 0, no
	// string key hold an unknown word.
	bad := map[reflect.Type]string{
		reflect.TypeOf(time.Duration(0)): "-5s",
		reflect.TypeOf(0):                "-1",
		reflect.TypeOf(""):               "bogus",
	}
	keys := profileServerKeys()
	if len(keys) < 15 {
		t.Fatalf("found %d server keys in the profile schema: %v", len(keys), keys)
	}
	serveKeys := map[string]app.Key{}
	for _, k := range app.Keys() {
		serveKeys[k.Name] = k
	}
	tested := 0
	for key, typ := range keys {
		value, ok := bad[typ]
		if !ok {
			continue // booleans: only the type can be wrong, which both refuse
		}
		if _, ok := serveKeys[key]; !ok {
			t.Errorf("the profile's server.%s is no sim serve key", key)
			continue
		}
		tested++
		t.Run(key, func(t *testing.T) {
			if _, err := loadprofiles.Parse("p.yaml", []byte("stages: [{duration: 1s, target: 1}]\nserver: "+nested(key, value)+"\n")); err == nil {
				t.Fatalf("the profile accepts server.%s: %s; pick a value it refuses", key, value)
			}
			for _, source := range []string{"flag", "env", "config"} {
				err := loadServeWith(t, source, key, value)
				if err == nil || !invalid.Is(err) || !strings.Contains(err.Error(), key) {
					t.Errorf("%s %s=%s: got %v, want an invalid-input error naming %s, as the profile gives", source, key, value, err, key)
				}
			}
		})
	}
	if tested < 15 {
		t.Errorf("tested %d keys", tested)
	}
	// The one deliberate difference: serve's nofile 0 leaves the limit as it is (documented in
	// its help); a profile exists to reproduce the fd ceiling and asks for one.
	if err := loadServeWith(t, "flag", "nofile", "0"); err != nil {
		t.Errorf("serve --nofile 0: %v", err)
	}
}

// profileServerKeys maps each key of the profile's server section (dots for nesting) to its
// value type, from the server's schema: a key added there is covered here.
func profileServerKeys() map[string]reflect.Type {
	keys := map[string]reflect.Type{}
	for _, k := range app.Keys() {
		if k.Profile {
			keys[k.Name] = reflect.TypeOf(k.Default())
		}
	}
	return keys
}

// nested renders key=value as a YAML flow mapping: static.server → {static: {server: v}}.
func nested(key, value string) string {
	first, rest, ok := strings.Cut(key, ".")
	if !ok {
		return "{" + key + ": " + value + "}"
	}
	return "{" + first + ": " + nested(rest, value) + "}"
}

// loadServeWith loads sim serve's config with key=value from one source, in process.
func loadServeWith(t *testing.T, source, key, value string) error {
	t.Helper()
	cmd := newServeCmd()
	switch source {
	case "flag":
		if err := cmd.Flags().Set(app.FlagName(key), value); err != nil {
			return invalid.Field("--"+app.FlagName(key), value, err.Error())
		}
	case "env":
		t.Setenv(app.EnvName(key), value)
	case "config":
		path := writeFile(t, t.TempDir(), "serve.yaml", yamlBlock(key, value))
		if err := cmd.Flags().Set("config", path); err != nil {
			t.Fatal(err)
		}
	}
	_, err := loadServerConfig(cmd)
	return err
}

// yamlBlock renders a dotted key as YAML block mappings: static.server → "static:\n  server: v".
func yamlBlock(key, value string) string {
	var b strings.Builder
	parts := strings.Split(key, ".")
	for i, p := range parts {
		b.WriteString(strings.Repeat("  ", i) + p + ":")
		if i == len(parts)-1 {
			b.WriteString(" " + value)
		}
		b.WriteString("\n")
	}
	return b.String()
}
