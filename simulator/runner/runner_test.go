package runner

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/simdev/sim/loadprofiles"
	"github.com/simdev/sim/results"
	"github.com/simdev/sim/simulator/static"
)

// failingWriter fails every write, as a file on a full disk does.
type failingWriter struct{ calls int }

func (f *failingWriter) Write([]byte) (int, error) {
	f.calls++
	return 0, errors.New("no space left on device")
}

// The serve.log writer never reports an error: the child's stderr pipe would be closed and sim
// serve killed by SIGPIPE at its next log line.
func TestLossyWriter(t *testing.T) {
	fw := &failingWriter{}
	w := &lossyWriter{w: fw}
	for range 3 {
		if n, err := w.Write([]byte("accept: too many open files\n")); n != 28 || err != nil {
			t.Fatalf("Write = %d, %v; want 28, nil", n, err)
		}
	}
	if fw.calls != 1 {
		t.Errorf("the failing file was written %d times, want once (then dropped)", fw.calls)
	}
}

// A record folder that cannot be made ends the run before any child starts, with the path in
// the error and no outcome.
func TestRunRecordDirUnwritable(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := loadprofiles.Load("quick")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(file, "runs", "20261125-130000-self")
	out, err := Run(context.Background(), Options{
		Topology: "self", Profile: p, ProfileName: "quick",
		Exe:       "/nonexistent/sim", // never started
		RecordDir: dir,
	})
	if err == nil || out != nil {
		t.Fatalf("Run = %+v, %v; want no outcome and an error", out, err)
	}
	if !strings.Contains(err.Error(), dir) {
		t.Errorf("error %q does not name %s", err, dir)
	}
}

// tcp_keepalive goes from the profile's server section to the server config and onto the
// child's command line; unset, it is off (Tomcat's socket.soKeepAlive is unset by default).
func TestServerConfigTCPKeepAlive(t *testing.T) {
	for _, tt := range []struct {
		name     string
		yaml     string
		want     bool
		wantFlag string
	}{
		{"unset: off", "", false, "--tcp-keepalive=false"},
		{"on", "server: {tcp_keepalive: true}\n", true, "--tcp-keepalive=true"},
		{"off", "server: {tcp_keepalive: false}\n", false, "--tcp-keepalive=false"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := loadprofiles.Parse("ka.yaml", []byte("stages: [{duration: 1s, target: 1}]\n"+tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := ServerConfig("self", p)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.TCPKeepAlive != tt.want {
				t.Errorf("TCPKeepAlive = %v, want %v", cfg.TCPKeepAlive, tt.want)
			}
			if flags := cfg.Flags(); !slices.Contains(flags, tt.wantFlag) {
				t.Errorf("sim serve flags %q lack %s", flags, tt.wantFlag)
			}
		})
	}
}

// results.bin counts the bytes of every answer (vegeta report's "Bytes In"), and keeps no body.
func TestResultsCountBytesIn(t *testing.T) {
	srv := httptest.NewServer(static.Handler())
	defer srv.Close()
	port, err := strconv.Atoi(srv.URL[strings.LastIndexByte(srv.URL, ':')+1:])
	if err != nil {
		t.Fatal(err)
	}
	p, err := loadprofiles.Parse("bytes.yaml", []byte(`
stages: [{duration: 1s, target: 20, mode: hold}]
client: {timeout: 2s}
recovery: {duration: 1s, interval: 500ms, timeout: 1s}
sample_interval: 250ms
`))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "run")
	target := srv.URL + static.PagePath
	if _, err := Run(context.Background(), Options{
		Topology: "external", Profile: p, ProfileName: "bytes.yaml", RecordDir: dir,
		Target: target, WatchPort: uint16(port),
	}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, results.ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := vegeta.NewDecoder(f)
	var ok int
	var bytesIn uint64
	for {
		var r vegeta.Result
		if err := dec.Decode(&r); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if r.Code != http.StatusOK {
			continue
		}
		ok++
		bytesIn += r.BytesIn
		if r.BytesIn != uint64(len(static.Page())) {
			t.Fatalf("result %d: bytes in %d, want the page's %d", r.Seq, r.BytesIn, len(static.Page()))
		}
		if len(r.Body) != 0 {
			t.Fatalf("result %d keeps a %d-byte body in results.bin", r.Seq, len(r.Body))
		}
	}
	if ok < 15 {
		t.Fatalf("%d OK results in a 1 s attack at 20 rps", ok)
	}
	t.Logf("%d OK results, %d bytes in", ok, bytesIn)
}
