package topology

// Split is the fix the incident team deployed: the static file is served by a separate server
// (nginx, or sim's embedded static server in a process of its own), so a page's self-call never
// needs one of the app's workers. There is no cycle: beyond its capacity requests queue and time
// out, and it recovers once the load drops.
const Split = "split"

func init() {
	register(Topology{
		Name: Split, Order: 20, Label: "split", Color: "#1f77b4",
		Summary:     "the static file from a separate server (static.server: embedded or nginx, or static.url)",
		Counterpart: "the incident's fix: nginx serves the HTML, the app fetches it from there",
		Cost:        "A second server to deploy, configure and watch, and one more network hop per page. Under overload requests queue and time out (client timeouts, no 5xx from the app) and it recovers as soon as the load drops.",
		Mechanics:   Mechanics{Fragment: FromSeparate},
		Keys:        []string{"static_addr", "static.server", "static.dir", "static.url"},
	})
}
