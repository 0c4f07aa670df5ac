package results

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/simdev/sim/internal/invalid"
)

// WriteFileAtomic never writes through a symbolic link below the folder it is given: not a
// linked subfolder (charts/ -> elsewhere), not a linked file, not a link pointing inside the
// folder either. It refuses, naming the link, and leaves both the link and its target as they
// were. The folder it is given may itself be a link: that is the user's choice of folder.
func TestWriteFileAtomicRefusesLinks(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir, elsewhere string) // makes the link
		write string                                    // the name written
		link  string                                    // the link the error names
	}{
		{"linked subfolder", func(t *testing.T, dir, elsewhere string) {
			symlink(t, elsewhere, filepath.Join(dir, "charts"))
		}, "charts/a.png", "charts"},
		{"linked file", func(t *testing.T, dir, elsewhere string) {
			symlink(t, filepath.Join(elsewhere, "victim"), filepath.Join(dir, "report.html"))
		}, "report.html", "report.html"},
		{"linked file in a subfolder", func(t *testing.T, dir, elsewhere string) {
			os.Mkdir(filepath.Join(dir, "charts"), 0o755)
			symlink(t, filepath.Join(elsewhere, "victim"), filepath.Join(dir, "charts", "a.png"))
		}, "charts/a.png", "a.png"},
		{"dangling link", func(t *testing.T, dir, elsewhere string) {
			symlink(t, filepath.Join(elsewhere, "new"), filepath.Join(dir, "report.md"))
		}, "report.md", "report.md"},
		{"link inside the folder", func(t *testing.T, dir, elsewhere string) {
			os.Mkdir(filepath.Join(dir, "real"), 0o755)
			symlink(t, "real", filepath.Join(dir, "charts"))
		}, "charts/a.png", "charts"},
		{"nested linked folder", func(t *testing.T, dir, elsewhere string) {
			os.Mkdir(filepath.Join(dir, "pprof"), 0o755)
			symlink(t, elsewhere, filepath.Join(dir, "pprof", "deep"))
		}, "pprof/deep/heap.pb.gz", "deep"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, elsewhere := t.TempDir(), t.TempDir()
			victim := filepath.Join(elsewhere, "victim")
			os.WriteFile(victim, []byte("keep me"), 0o644)
			tt.setup(t, dir, elsewhere)
			before := snapshot(t, dir)
			err := WriteFileAtomic(dir, tt.write, []byte("new"))
			if err == nil {
				t.Fatal("wrote through a link")
			}
			if !invalid.Is(err) || !strings.Contains(err.Error(), tt.link) || !strings.Contains(err.Error(), "symbolic link") {
				t.Errorf("error %q: want an invalid-input error naming the link %s", err, tt.link)
			}
			if data, _ := os.ReadFile(victim); string(data) != "keep me" {
				t.Errorf("the link's target was changed: %q", data)
			}
			if left, _ := os.ReadDir(elsewhere); len(left) != 1 {
				t.Errorf("files appeared behind the link: %v", left)
			}
			if after := snapshot(t, dir); after != before {
				t.Errorf("the folder changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
	t.Run("the given folder may be a link", func(t *testing.T) {
		real := t.TempDir()
		linked := filepath.Join(t.TempDir(), "latest")
		symlink(t, real, linked)
		if err := WriteFileAtomic(linked, "charts/a.png", []byte("png")); err != nil {
			t.Fatal(err)
		}
		if data, _ := os.ReadFile(filepath.Join(real, "charts", "a.png")); string(data) != "png" {
			t.Errorf("wrote %q", data)
		}
		if fi, err := os.Lstat(filepath.Join(real, "charts", "a.png")); err != nil || fi.Mode().Perm() != filePerm {
			t.Errorf("mode %v, %v; want %v", fi.Mode(), err, os.FileMode(filePerm))
		}
	})
	t.Run("a name outside the folder", func(t *testing.T) {
		if err := WriteFileAtomic(t.TempDir(), "../x", []byte("x")); err == nil {
			t.Error("wrote outside the folder")
		}
	})
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// snapshot lists what a folder holds, links as links, without following them.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		b.WriteString(rel + ":" + d.Type().String())
		if d.Type()&os.ModeSymlink != 0 {
			target, _ := os.Readlink(path)
			b.WriteString("->" + target)
		}
		b.WriteString(" ")
		return nil
	})
	return b.String()
}
