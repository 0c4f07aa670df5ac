package static

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// The embedded static server stands in for nginx, whose listen so_keepalive is off by default:
// its accepted sockets run no keepalive timer. /proc/net/tcp shows the server side's timer:
// "tr" 2 is the keepalive timer of an idle connection.
func TestServeNoTCPKeepAlive(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	urlc := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, "127.0.0.1:0", func(u string) { urlc <- u }) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	var addr string
	select {
	case u := <-urlc:
		addr = strings.TrimPrefix(u, "http://")
	case err := <-done:
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// One request and its answer: the server has accepted the connection (and set its options),
	// which now idles, kept alive for the next request.
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: test\r\n\r\n", PagePath); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	server := c.RemoteAddr().(*net.TCPAddr).Port
	client := c.LocalAddr().(*net.TCPAddr).Port
	// The server side: local port the server's, remote port the client's.
	local, remote := fmt.Sprintf("0100007F:%04X", server), fmt.Sprintf("0100007F:%04X", client)
	deadline := time.Now().Add(10 * time.Second)
	for {
		tcp, err := os.ReadFile("/proc/net/tcp")
		if err != nil {
			t.Skipf("no /proc/net/tcp: %v", err)
		}
		for _, line := range strings.Split(string(tcp), "\n")[1:] {
			f := strings.Fields(line)
			// sl local rem st tx:rx tr:when ...
			if len(f) < 6 || f[1] != local || f[2] != remote {
				continue
			}
			if timer, _, _ := strings.Cut(f[5], ":"); timer == "02" {
				t.Fatalf("the static server's side of a connection runs the keepalive timer: %s", line)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no server-side socket %s -> %s in /proc/net/tcp", local, remote)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
