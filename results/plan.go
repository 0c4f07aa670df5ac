package results

// PlanSchemaVersion is the version of plan.json.
const PlanSchemaVersion = 1

// Plan is a capacity plan (plan.json): for each pool size, the highest rate the topology
// sustains within the SLO, and for self the rate at which it deadlocks, each beside the model's
// prediction.
type Plan struct {
	SchemaVersion int    `json:"schema_version"`
	Topology      string `json:"topology"`
	// WorkTimeS is the app's work_time in seconds.
	WorkTimeS float64 `json:"work_time_s"`
	// SelfCallS is the measured mean time of one self-call (the static fetch) in seconds, used
	// by the model: a worker is held for work_time + self-call time per page.
	SelfCallS float64 `json:"self_call_s"`
	SLO       SLO     `json:"slo"`
	// Search says how rates were searched, in words ("bisection between 2 and 400 rps, 8 steps of 6 s").
	Search string    `json:"search"`
	Rows   []PlanRow `json:"rows"`
	// Recommendation is one paragraph in plain words.
	Recommendation string `json:"recommendation"`
	StartedAt      string `json:"started_at"`
	FinishedAt     string `json:"finished_at,omitempty"`
}

// SLO is what "sustains" means in a plan.
type SLO struct {
	P99MS     float64 `json:"p99_ms"`
	ErrorRate float64 `json:"error_rate"` // fraction, 0.01 = 1 %
}

// PlanRow is one pool size (and, with Poisson arrivals, one arrival process).
type PlanRow struct {
	MaxThreads int    `json:"max_threads"`
	Arrivals   string `json:"arrivals"` // "uniform" or "poisson"
	// SustainedRPS is the highest rate that met the SLO.
	SustainedRPS float64 `json:"sustained_rps"`
	// DeadlockRPS is the lowest offered rate at which self deadlocked (hang onset rate); nil
	// for split or when no deadlock was seen in the searched range.
	DeadlockRPS *float64 `json:"deadlock_rps"`
	// PredictedRPS is Little's law: max_threads / (work_time + self-call time).
	PredictedRPS float64 `json:"predicted_rps"`
	// Ratio is measured / predicted: DeadlockRPS for self, SustainedRPS for split.
	Ratio float64 `json:"ratio"`
	// SafeRPS is the recommended rate for this pool size, with the margin the plan applied.
	SafeRPS float64    `json:"safe_rps"`
	Steps   []PlanStep `json:"steps"`
}

// PlanStep is one measured rate.
type PlanStep struct {
	RateRPS   float64 `json:"rate_rps"`
	P99MS     float64 `json:"p99_ms"`
	ErrorRate float64 `json:"error_rate"`
	MeetsSLO  bool    `json:"meets_slo"`
	Hang      bool    `json:"hang"`
	// OnsetRPS is the offered rate at hang onset when the step hung.
	OnsetRPS *float64 `json:"onset_rps,omitempty"`
	// Record is the step's run record folder, relative to the plan's folder.
	Record string `json:"record,omitempty"`
}
