package results

import (
	"strconv"
	"strings"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Substrings of Go's error texts, as vegeta stores them in Result.Error, by kind. They are
// checked in this order: a timeout wraps the underlying error's text, so it must win.
var (
	timeoutTexts = []string{
		"Client.Timeout",                    // http.Client.Timeout (vegeta.Timeout): headers or body
		"deadline exceeded",                 // context.DeadlineExceeded
		"i/o timeout",                       // a net.Conn deadline: dial or read timeout
		"timeout awaiting response headers", // Transport.ResponseHeaderTimeout
		"TLS handshake timeout",
	}
	refusedTexts = []string{"connection refused"}
	// A peer that closes or resets a connection shows as one of these, depending on whether the
	// client was reading (reset, EOF) or writing (broken pipe) when it noticed.
	resetTexts = []string{"connection reset", "broken pipe", "server closed idle connection"}
)

// Classify names the outcome of a result: KindOK for a 2xx, HTTPKind(code) for any other
// complete response ("http_503": vegeta puts the status text in Error for codes outside
// 200-399; 3xx counts here too, since only 2xx is good throughput), and for a request that got
// no response KindTimeout, KindRefused, KindReset or KindOther from its error text. The status
// is kept because it says who refused: a 503 is a full queue or an admission limit, a 502 a
// page whose self-call failed. Client-side resource errors ("too many open files", "cannot
// assign requested address") are KindOther: they say the load client, not the app, ran out.
func Classify(r *vegeta.Result) string {
	kind := classify(r)
	if kind == KindHTTP {
		return HTTPKind(int(r.Code))
	}
	return kind
}

// classify is Classify with every complete non-2xx response as KindHTTP: what the timeline's
// columns count, without building a kind name per result.
func classify(r *vegeta.Result) string {
	// vegeta sets Code only once the whole response was read, so a result with a code is an
	// answer from the app, whatever Error says (for a non-2xx, vegeta copies the status there).
	if r.Code != 0 {
		if r.Code >= 200 && r.Code < 300 && r.Error == "" {
			return KindOK
		}
		return KindHTTP
	}
	e := r.Error
	switch {
	case containsAny(e, timeoutTexts):
		return KindTimeout
	case containsAny(e, refusedTexts):
		return KindRefused
	case containsAny(e, resetTexts), strings.HasSuffix(e, "EOF"):
		// "EOF" and "unexpected EOF": the server closed the connection before or within the
		// response.
		return KindReset
	}
	// Includes a result with neither code nor error, which vegeta never produces: it must not
	// count as good throughput.
	return KindOther
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// HTTPKind is the kind of a complete response with a status that is not good throughput:
// "http_" and the status code, "http_503".
func HTTPKind(code int) string { return KindHTTP + "_" + strconv.Itoa(code) }

// IsHTTPKind says whether kind is a complete response that is not good throughput: an
// HTTPKind, or KindHTTP, the kind records written before the status was kept have.
func IsHTTPKind(kind string) bool {
	return kind == KindHTTP || strings.HasPrefix(kind, KindHTTP+"_")
}

// HTTPStatus returns the status code of an HTTPKind, and false for any other kind (KindHTTP
// included: its status is not known).
func HTTPStatus(kind string) (int, bool) {
	rest, ok := strings.CutPrefix(kind, KindHTTP+"_")
	if !ok {
		return 0, false
	}
	code, err := strconv.Atoi(rest)
	return code, err == nil
}
