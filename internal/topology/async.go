package topology

// Async releases the page's worker while its self-call is in flight and takes one again, at the
// tail of the worker queue, to finish — Servlet 3 async (AsyncContext, Spring's DeferredResult)
// with a non-blocking client. No worker waits for another worker, so there is no cycle; but a
// page now passes through the same worker queue three times (its request, its self-call, its
// resumption at the tail), so under overload its queueing delay grows about three times as fast
// as split's.
const Async = "async"

func init() {
	register(Topology{
		Name: Async, Order: 70, Label: "async page", Color: "#e377c2",
		Summary:     "the page releases its worker during its self-call and takes one again to finish",
		Counterpart: "Servlet 3 async: AsyncContext, Spring DeferredResult, with a non-blocking HTTP client",
		Cost:        "A code change in every page that calls out, and a non-blocking client. No worker waits on a worker, so it cannot hang, and it recovers once the load drops. But each page passes the one worker queue three times (request, self-call, resumption), so past capacity its latency grows about three times as fast as split's and it serves fewer pages before the clients' timeouts.",
		Mechanics:   Mechanics{Fragment: FromSelf, Async: true},
	})
}
