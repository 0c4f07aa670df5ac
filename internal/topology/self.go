package topology

// Self is the incident: Tomcat serving a page that fetches a static HTML file from the same
// Tomcat with Apache HttpClient (http://localhost:8080/...), through one bounded worker pool.
// Every page holds a worker and needs a second one for its self-call; once every worker holds a
// page, no self-call can get one and nothing ever frees: the server hangs, for good.
const Self = "self"

func init() {
	register(Topology{
		Name: Self, Order: 10, Label: "self (incident)", Color: "#d62728",
		Summary:     "the incident: the page fetches the static file from its own connector through the self-call pool",
		Counterpart: "Tomcat + Apache HttpClient to http://localhost:8080",
		Cost:        "None to deploy: it is what was running. Under a burst that holds every worker at once it hangs for good, piles up CLOSE_WAIT sockets up to the fd limit and needs a restart.",
		Mechanics:   Mechanics{Fragment: FromSelf},
	})
}
