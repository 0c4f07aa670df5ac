package topology

// Bulkhead serves /static from a second connector of the same process, on its own port with its
// own worker pool (bulkhead_threads) — a second Tomcat <Connector> bound to its own <Executor>.
// A page's self-call goes there, so it never waits for one of the page pool's workers. Both
// connectors share the process's fd limit.
const Bulkhead = "bulkhead"

func init() {
	register(Topology{
		Name: Bulkhead, Order: 40, Label: "bulkhead", Color: "#2ca02c",
		Summary:     "/static from a second connector on static_addr with its own pool of bulkhead_threads workers, same process",
		Counterpart: "a second Tomcat <Connector> with its own <Executor> for static paths",
		Cost:        "Server config only (a second connector, a port, an executor), no second server. Its threads cost memory even when idle. Both pools share the process's fd limit, so a long overload that fills it with CLOSE_WAIT sockets starves the static connector too.",
		Mechanics:   Mechanics{Fragment: FromBulkhead},
		Keys:        []string{"static_addr", "bulkhead_threads"},
	})
}
