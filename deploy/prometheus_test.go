package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/simdev/sim/simulator/watch"
)

// prometheusDir holds the Prometheus alerting rules on sim watch's metrics.
const prometheusDir = "prometheus"

// TestSelfCallRules checks the self-call alerting rules with Prometheus's own tool — the rules
// load, and their unit tests (selfcall-rules.test.yml: a deadlock fires the warning, then the
// deadlock alert; a split app fires nothing) pass — and that every sim_ metric they name is one
// the agent serves.
func TestSelfCallRules(t *testing.T) {
	rules := filepath.Join(prometheusDir, "selfcall-rules.yml")
	data, err := os.ReadFile(rules)
	if err != nil {
		t.Fatal(err)
	}
	served := map[string]bool{}
	for _, m := range watch.MetricNames() {
		served[m] = true
	}
	for _, m := range regexp.MustCompile(`\bsim_[a-z_]+`).FindAllString(string(data), -1) {
		if !served[m] {
			t.Errorf("%s names %s, which sim watch does not serve (it serves %v)", rules, m, watch.MetricNames())
		}
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool not found: install Debian package prometheus")
		}
		t.Skip("promtool not found: install Debian package prometheus")
	}
	for _, args := range [][]string{{"check", "rules", rules}, {"test", "rules", filepath.Join(prometheusDir, "selfcall-rules.test.yml")}} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}
