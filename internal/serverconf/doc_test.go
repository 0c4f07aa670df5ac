package serverconf

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "write docs/keys.md and docs/topologies.md from serverconf.Keys and the topology registry")

// keysDocPath is the generated key reference, from this package's folder.
var keysDocPath = filepath.Join("..", "..", "docs", "keys.md")

// TestKeysDoc fails when docs/keys.md is not what KeysDoc renders from Keys: a key added,
// renamed or given another default or help without regenerating the reference
// (go generate ./internal/serverconf).
func TestKeysDoc(t *testing.T) {
	generated(t, keysDocPath, KeysDoc())
	for _, k := range Keys() {
		if k.Usage == "" {
			t.Errorf("%s has no help text for the reference", k.Name)
		}
	}
}

// TestTopologiesDoc fails when docs/topologies.md is not what TopologiesDoc renders from the
// registry (go generate ./internal/serverconf writes it).
func TestTopologiesDoc(t *testing.T) {
	generated(t, filepath.Join("..", "..", "docs", "topologies.md"), TopologiesDoc())
}

// TestRuntimesDoc fails when docs/runtimes.md is not what RuntimesDoc renders from the registry
// (go generate ./internal/serverconf writes it).
func TestRuntimesDoc(t *testing.T) {
	generated(t, filepath.Join("..", "..", "docs", "runtimes.md"), RuntimesDoc())
}

// generated fails when the generated file at path is not want; with -update it writes it first.
func generated(t *testing.T, path, want string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (write it with: go generate ./internal/serverconf)", err)
	}
	if string(got) != want {
		t.Fatalf("%s is stale: run go generate ./internal/serverconf", path)
	}
}
