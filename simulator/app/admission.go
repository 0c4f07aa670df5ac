package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"

	"github.com/simdev/sim/internal/topology"
	"github.com/simdev/sim/simulator/sem"
)

// errAdmissionFull is a rejected page's error (admission reject).
var errAdmissionFull = errors.New("service unavailable: the admission limit's pages are all in progress")

// admission is the admission-limit topology's limiter: at most limit pages hold a permit at
// once, from admission until the page is done. Its permits are a FIFO semaphore, like
// Resilience4j's fair semaphore bulkhead. Where a page waits for one is its mode's
// (topology.AdmitWait, AdmitReject, AdmitQueue).
type admission struct {
	mode     string
	permits  *sem.FIFO
	rejected atomic.Int64
}

func newAdmission(mode string, limit int) *admission {
	return &admission{mode: mode, permits: sem.New(limit)}
}

// enter admits a page (wait: in line for as long as it takes, until ctx ends; reject: only if
// a permit is free, else errAdmissionFull) and returns the permit's release.
func (ad *admission) enter(ctx context.Context) (func(), error) {
	if ad.mode == topology.AdmitReject {
		if !ad.permits.TryAcquire() {
			ad.rejected.Add(1)
			return nil, fmt.Errorf("%w (admission limit %d)", errAdmissionFull, ad.permits.Size())
		}
		return ad.permits.Release, nil
	}
	if err := ad.permits.Acquire(ctx); err != nil {
		return nil, err
	}
	return ad.permits.Release, nil
}

// gate is the connector's Gate in queue mode: a page waits for its permit before it takes a
// worker; every other request passes.
func (ad *admission) gate(ctx context.Context, r *http.Request) (func(), error) {
	if r.URL.Path != pagePath {
		return func() {}, nil
	}
	return ad.enter(ctx)
}
