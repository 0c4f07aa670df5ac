package topology

// InProc reads the static file in process: no HTTP, no self-call pool, no second worker. The
// code fix.
const InProc = "inproc"

func init() {
	register(Topology{
		Name: InProc, Order: 80, Label: "in process", Color: "#17becf",
		Summary:     "the page reads the static file in process, no HTTP",
		Counterpart: "the code fix: read the resource from the classpath or disk",
		Cost:        "A code change, and the file must ship with the app (or be mounted beside it). Cheapest at run time: no socket, no second request; beyond its capacity it queues and times out like any server, and recovers.",
		Mechanics:   Mechanics{Fragment: InProcess},
	})
}
