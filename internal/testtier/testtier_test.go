package testtier

import "testing"

func TestEnabledFollowsEnv(t *testing.T) {
	for _, c := range []struct {
		val  string
		want bool
	}{{"", false}, {"0", false}, {"yes", false}, {"1", !testing.Short()}} {
		t.Setenv(Env, c.val)
		if got := Enabled(); got != c.want {
			t.Errorf("%s=%q: Enabled() = %v, want %v", Env, c.val, got, c.want)
		}
	}
}

func TestLongSkipsWithoutEnv(t *testing.T) {
	t.Setenv(Env, "")
	ran := false
	t.Run("long", func(t *testing.T) {
		Long(t)
		ran = true
	})
	if ran {
		t.Fatal("a long-tier test ran without " + Env + "=1")
	}
}
