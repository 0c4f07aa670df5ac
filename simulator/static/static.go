// Package static is the static file of the app (page.html, a few KB) and the servers that can
// serve it: the embedded Go server, run as its own process for the split topology, and later
// nginx. The app fetches it at PagePath on every /page request.
package static

import (
	_ "embed"
	"net/http"
	"strconv"
)

// PagePath is where every server serves the page.
const PagePath = "/static/page.html"

//go:embed page.html
var page []byte

// Page returns the static page's bytes.
func Page() []byte { return page }

// Handler serves the page at PagePath and nothing else.
func Handler() http.Handler {
	length := strconv.Itoa(len(page))
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PagePath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Length", length)
		_, _ = w.Write(page)
	})
	return mux
}
