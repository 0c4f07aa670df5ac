package topology

// AdmissionLimit admits at most max_threads − reserve pages at once, so that reserve workers are
// left for the self-calls — a concurrency limiter (a Resilience4j bulkhead, Netflix's
// concurrency-limits) in front of the page. What happens to the pages over the limit decides
// whether it works (key `admission`): `reject` answers 503 at once; `queue` makes them wait
// before they take a worker (a limiter in front of the pool); `wait` makes them wait inside the
// worker they already hold, as a servlet filter does — and those waiting pages can hold every
// worker, so it still hangs.
const AdmissionLimit = "admission-limit"

func init() {
	register(Topology{
		Name: AdmissionLimit, Order: 60, Label: "admission limit", Color: "#8c564b",
		Summary:     "at most max_threads - reserve pages at once (reserve 1); the rest wait inside their worker (admission: wait), get 503 (reject) or wait before taking a worker (queue)",
		Counterpart: "a concurrency limiter in front of the page: Resilience4j Bulkhead, Netflix concurrency-limits, a servlet filter",
		Cost:        "A library and a limit to tune. reject: overload becomes fast 503s and the reserved workers keep the self-calls moving. queue: no errors, pages wait outside the pool. wait (a filter inside the servlet): the waiting pages hold workers too, so the cycle is back and it hangs like self.",
		Mechanics:   Mechanics{Fragment: FromSelf, Admission: true},
		Keys:        []string{"admission", "reserve"},
	})
}
