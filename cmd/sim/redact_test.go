package main

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/simdev/sim/results"
)

// redactProfile is a tiny external run: about 2 s of load and 1 s of probes.
const redactProfile = `description: credentials in the target
stages:
  - {duration: 2s, target: 20}
client: {timeout: 1s}
recovery: {duration: 1s, interval: 250ms, timeout: 500ms}
detect: {hang_hold: 1s}
`

// Credentials in a --target URL go on the wire, to every request and probe, but nowhere else:
// not in any file of the record (summary.json, config.json, results.bin, the CSV files), not in
// what sim prints. The target is a real sim serve behind a proxy that demands them.
func TestRedactCredentials(t *testing.T) {
	const user, password = "alice", "pa55-w0rd-7Qx"
	srv := startServe(t, "--topology", "split", "--max-threads", "4", "--work-time", "10ms")
	app, err := url.Parse(srv.URL("app"))
	if err != nil {
		t.Fatal(err)
	}
	var authorized, refused atomic.Int64
	proxy := httputil.NewSingleHostReverseProxy(app)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != password {
			refused.Add(1)
			http.Error(w, "credentials required", http.StatusUnauthorized)
			return
		}
		authorized.Add(1)
		proxy.ServeHTTP(w, r)
	}))
	defer front.Close()

	target := "http://" + user + ":" + password + "@" + strings.TrimPrefix(front.URL, "http://") + "/page"
	out := t.TempDir()
	profile := writeFile(t, t.TempDir(), "redact.yaml", redactProfile)
	code, stdout, stderr := simRun(t, nil, "run", "--target", target, "--admin", srv.URL("admin"),
		"--profile", profile, "--out", out, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if refused.Load() > 0 || authorized.Load() == 0 {
		t.Fatalf("the target saw %d requests with the credentials and %d without: they must go on the wire",
			authorized.Load(), refused.Load())
	}

	secrets := []string{password, base64.StdEncoding.EncodeToString([]byte(user + ":" + password))}
	for _, s := range secrets {
		if strings.Contains(stdout+stderr, s) {
			t.Errorf("printed %q:\n%s\n%s", s, stdout, stderr)
		}
	}
	files := 0
	filepath.WalkDir(out, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range secrets {
			if strings.Contains(string(data), s) {
				t.Errorf("%s holds %q", path, s)
			}
		}
		return nil
	})
	dirs, _ := filepath.Glob(filepath.Join(out, "*-external"))
	if len(dirs) != 1 || files < 5 {
		t.Fatalf("records %v, %d files", dirs, files)
	}
	// Masked, not dropped: the record still says what was attacked.
	rec, err := results.Read(dirs[0])
	if err != nil {
		t.Fatal(err)
	}
	masked := user + ":xxxxx@"
	if !strings.Contains(rec.Summary.AppURL, masked) {
		t.Errorf("summary app_url %q, want the target with %s", rec.Summary.AppURL, masked)
	}
	if !strings.Contains(stdout, masked) {
		t.Errorf("--json output does not show the masked target:\n%s", stdout)
	}
	if cfg, _ := os.ReadFile(filepath.Join(dirs[0], results.ConfigFile)); !strings.Contains(string(cfg), masked) {
		t.Errorf("config.json does not show the masked target:\n%s", cfg)
	}
	if bin, _ := os.ReadFile(filepath.Join(dirs[0], results.ResultsFile)); !strings.Contains(string(bin), masked) {
		t.Errorf("results.bin does not hold the masked target")
	}
}
