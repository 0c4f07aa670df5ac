//go:build linux

package watch

import (
	"os"
	"strings"
	"testing"
)

func TestParseMaxOpenFiles(t *testing.T) {
	const head = "Limit                     Soft Limit           Hard Limit           Units     \n" +
		"Max cpu time              unlimited            unlimited            seconds   \n"
	tests := []struct {
		data string
		want int
		ok   bool
	}{
		{head + "Max open files            4096                 524288               files     \n", 4096, true},
		{head + "Max open files            unlimited            unlimited            files     \n", -1, true},
		{head, 0, false},
		{head + "Max open files            lots                 4096                 files     \n", 0, false},
	}
	for _, tt := range tests {
		got, err := parseMaxOpenFiles([]byte(tt.data))
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseMaxOpenFiles(%q) = %d, %v; want %d, ok %v", tt.data, got, err, tt.want, tt.ok)
		}
	}
}

func TestParseListenInodes(t *testing.T) {
	const tcp = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000003 00:00000000 00000000  1000        0 111 1 0000000000000000 100 0 0 10 0
   1: 00000000:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 222 1 0000000000000000 100 0 0 10 0
   2: 0100007F:1F90 0100007F:C350 08 00000000:00000000 00:00000000 00000000  1000        0 333 1 0000000000000000 20 4 30 10 -1
   3: 0100007F:C351 0100007F:1F90 0A 00000000:00000000 00:00000000 00000000  1000        0 444 1 0000000000000000 20 4 30 10 -1
`
	got := map[uint64]bool{}
	if err := parseListenInodes(strings.NewReader(tcp), 0x1F90, got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !got[111] {
		t.Errorf("listeners of port 8080: %v, want inode 111 only (not the CLOSE_WAIT socket, nor a remote port)", got)
	}
	if err := parseListenInodes(strings.NewReader("header\ngarbage line\n"), 80, got); err == nil {
		t.Error("a malformed line was accepted")
	}
}

func TestSocketInode(t *testing.T) {
	for target, want := range map[string]uint64{"socket:[123456]": 123456, "pipe:[5]": 0, "socket:[x]": 0, "/dev/null": 0, "socket:[7": 0} {
		got, ok := socketInode(target)
		if got != want || ok != (want != 0) {
			t.Errorf("socketInode(%q) = %d, %v", target, got, ok)
		}
	}
}

// startTime tells this process from a recycled pid: it is stable for one process.
func TestStartTime(t *testing.T) {
	a, err := startTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	b, err := startTime(os.Getpid())
	if err != nil || a != b || a == 0 {
		t.Errorf("start time %d then %d (%v)", a, b, err)
	}
	if _, err := startTime(1 << 30); err == nil {
		t.Error("start time of a pid that cannot exist")
	}
}
