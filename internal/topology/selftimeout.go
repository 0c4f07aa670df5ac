package topology

// SelfTimeout is the incident's topology with the self-call's timeouts set, as HttpClient's
// RequestConfig (setSocketTimeout, setConnectionRequestTimeout) allows: a page whose self-call
// waits longer gives up, answers 502 and frees its worker. The cycle stays; it cannot last
// longer than a timeout, so the server recovers once the load drops.
const SelfTimeout = "self-timeout"

func init() {
	register(Topology{
		Name: SelfTimeout, Order: 30, Label: "self + timeouts", Color: "#ff7f0e",
		Summary:     "self, with the self-call's socket_timeout and connection_request_timeout set (1s unless the profile sets them)",
		Counterpart: "HttpClient RequestConfig: setSocketTimeout, setConnectionRequestTimeout",
		Cost:        "Two lines of client config. Under overload the cycle still forms: pages wait a full timeout, then fail with 502, so users see errors and timeout-long latency instead of a hang; it recovers once the load drops. A timeout too short fails pages that would have succeeded.",
		Mechanics:   Mechanics{Fragment: FromSelf},
		Keys:        []string{"socket_timeout", "connection_request_timeout"},
		Defaults:    map[string]string{"socket_timeout": "1s", "connection_request_timeout": "1s"},
	})
}
