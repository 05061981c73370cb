package volumes

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var fixedNow = time.Date(2026, 1, 1, 0, 0, 0, 123456789, time.UTC)

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// versions lists the version directories in dir.
func versions(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() && strings.HasPrefix(e.Name(), "..") {
			out = append(out, e.Name())
		}
	}
	return out
}

// visible lists the names in dir that are not the writer's own `..` entries.
func visible(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), "..") {
			out = append(out, e.Name())
		}
	}
	return out
}

func wantFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if got := read(t, path); got != content {
		t.Errorf("%s = %q, want %q", path, got, content)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != mode {
		t.Errorf("%s mode %v, want %v", path, st.Mode().Perm(), mode)
	}
}

func TestAtomicWriter(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, dir string)
		writes  []map[string]file
		check   func(t *testing.T, dir string, dataAfter []string)
	}{
		{
			name:   "the first write puts files in a timestamped version and links each top-level name through ..data",
			writes: []map[string]file{{"a": {[]byte("1"), 0o644}, "sub/b": {[]byte("2"), 0o600}}},
			check: func(t *testing.T, dir string, data []string) {
				if !strings.HasPrefix(data[0], "..2026_01_01_00_00_00.123456789") {
					t.Errorf("..data -> %s, want a version named by the time", data[0])
				}
				for name, target := range map[string]string{"a": "..data/a", "sub": "..data/sub"} {
					if got, err := os.Readlink(filepath.Join(dir, name)); err != nil || got != target {
						t.Errorf("%s -> %q (%v), want %s", name, got, err, target)
					}
				}
				wantFile(t, filepath.Join(dir, "a"), "1", 0o644)
				wantFile(t, filepath.Join(dir, "sub", "b"), "2", 0o600)
				if st, _ := os.Stat(filepath.Join(dir, data[0])); st.Mode().Perm() != 0o755 {
					t.Errorf("version directory mode %v, want 0755 for readers of any user", st.Mode().Perm())
				}
			},
		},
		{
			name: "an update removes a key, adds one, changes one and drops the old version",
			writes: []map[string]file{
				{"a": {[]byte("1"), 0o644}, "gone/b": {[]byte("2"), 0o644}},
				{"a": {[]byte("new"), 0o644}, "c": {[]byte("3"), 0o644}},
			},
			check: func(t *testing.T, dir string, data []string) {
				if data[0] == data[1] {
					t.Fatal("..data did not move on a change")
				}
				wantFile(t, filepath.Join(dir, "a"), "new", 0o644)
				wantFile(t, filepath.Join(dir, "c"), "3", 0o644)
				if got := visible(t, dir); !slices.Equal(got, []string{"a", "c"}) {
					t.Errorf("visible entries %v, want [a c]", got)
				}
				if got := versions(t, dir); !slices.Equal(got, []string{data[1]}) {
					t.Errorf("versions %v, want only %s", got, data[1])
				}
			},
		},
		{
			name: "the same content again leaves ..data where it was",
			writes: []map[string]file{
				{"a": {[]byte("1"), 0o644}, "d/./b": {[]byte("2"), 0o644}},
				{"a": {[]byte("1"), 0o644}, "d/b": {[]byte("2"), 0o644}},
			},
			check: func(t *testing.T, dir string, data []string) {
				if data[0] != data[1] {
					t.Errorf("..data moved from %s to %s without a change", data[0], data[1])
				}
			},
		},
		{
			name: "a change of mode alone is a change",
			writes: []map[string]file{
				{"a": {[]byte("1"), 0o644}},
				{"a": {[]byte("1"), 0o400}},
			},
			check: func(t *testing.T, dir string, data []string) {
				if data[0] == data[1] {
					t.Error("..data did not move on a mode change")
				}
				wantFile(t, filepath.Join(dir, "a"), "1", 0o400)
			},
		},
		{
			name: "an empty payload is an empty volume with ..data",
			writes: []map[string]file{
				{"a": {[]byte("1"), 0o644}},
				{},
			},
			check: func(t *testing.T, dir string, data []string) {
				if got := visible(t, dir); len(got) != 0 {
					t.Errorf("visible entries %v, want none", got)
				}
			},
		},
		{
			name: "entries the writer did not make are left alone, leftovers of an interrupted write go",
			prepare: func(t *testing.T, dir string) {
				for _, d := range []string{"mine", "..2020_01_01_00_00_00.000000000123"} {
					if err := os.MkdirAll(filepath.Join(dir, d, "x"), 0o755); err != nil {
						t.Fatal(err)
					}
				}
				if err := os.Symlink("..2020_01_01_00_00_00.000000000123", filepath.Join(dir, dataTmpLink)); err != nil {
					t.Fatal(err)
				}
			},
			writes: []map[string]file{{"a": {[]byte("1"), 0o644}}, {"b": {[]byte("1"), 0o644}}},
			check: func(t *testing.T, dir string, data []string) {
				if got := visible(t, dir); !slices.Equal(got, []string{"b", "mine"}) {
					t.Errorf("visible entries %v, want [b mine]", got)
				}
				if got := versions(t, dir); !slices.Equal(got, []string{data[1]}) {
					t.Errorf("versions %v, want only %s", got, data[1])
				}
				if _, err := os.Lstat(filepath.Join(dir, dataTmpLink)); !os.IsNotExist(err) {
					t.Errorf("%s left: %v", dataTmpLink, err)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "vol")
			if tc.prepare != nil {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				tc.prepare(t, dir)
			}
			var data []string
			for _, files := range tc.writes {
				if err := writeAtomic(dir, files, fixedNow); err != nil {
					t.Fatal(err)
				}
				target, err := os.Readlink(filepath.Join(dir, dataLink))
				if err != nil {
					t.Fatal(err)
				}
				data = append(data, target)
			}
			tc.check(t, dir, data)
		})
	}
}

func TestAtomicWriterRefusesPathsThatLeaveTheVolume(t *testing.T) {
	for _, p := range []string{"../escape", "a/../../escape", "/etc/passwd", "..data", "..x/y", "", "."} {
		dir := t.TempDir()
		err := writeAtomic(dir, map[string]file{p: {[]byte("x"), 0o644}}, fixedNow)
		if err == nil || !strings.Contains(err.Error(), "invalid file path") {
			t.Errorf("path %q: %v, want an invalid file path error", p, err)
		}
		if _, err := os.Lstat(filepath.Join(dir, dataLink)); !os.IsNotExist(err) {
			t.Errorf("path %q: ..data made for a refused payload", p)
		}
	}
}

// A reader that resolves ..data once and reads through it sees one version whole, never a mix,
// while versions change under it.
func TestAtomicWriterReadersThroughDataSeeOneVersionWhole(t *testing.T) {
	dir := t.TempDir()
	payload := func(v string) map[string]file {
		return map[string]file{"a": {[]byte(v), 0o644}, "b": {[]byte(v), 0o644}, "sub/c": {[]byte(v), 0o644}}
	}
	if err := writeAtomic(dir, payload("0"), fixedNow); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var consistent, mixed atomic.Int64
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				version, err := os.Readlink(filepath.Join(dir, dataLink))
				if err != nil {
					continue
				}
				var got []string
				for _, name := range []string{"a", "b", "sub/c"} {
					b, err := os.ReadFile(filepath.Join(dir, version, name))
					if err != nil {
						// The version went away after the switch: the reader resolves again.
						got = nil
						break
					}
					got = append(got, string(b))
				}
				switch {
				case got == nil:
				case got[0] == got[1] && got[1] == got[2]:
					consistent.Add(1)
				default:
					mixed.Add(1)
				}
			}
		}()
	}
	for i := 1; i <= 200; i++ {
		if err := writeAtomic(dir, payload(string(rune('0'+i%10))), fixedNow.Add(time.Duration(i))); err != nil {
			stop.Store(true)
			wg.Wait()
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if mixed.Load() != 0 {
		t.Errorf("%d reads saw a mix of versions", mixed.Load())
	}
	if consistent.Load() == 0 {
		t.Error("no read completed: the test proved nothing")
	}
	if got := versions(t, dir); len(got) != 1 {
		t.Errorf("versions left %v, want one", got)
	}
}

// A reader holding files of the old version open keeps reading the old content, all of it, until it
// opens them again through the visible names.
func TestAtomicWriterOpenOldFilesKeepTheirContent(t *testing.T) {
	dir := t.TempDir()
	if err := writeAtomic(dir, map[string]file{"a": {[]byte("old-a"), 0o644}, "b": {[]byte("old-b"), 0o644}}, fixedNow); err != nil {
		t.Fatal(err)
	}
	var open []*os.File
	for _, name := range []string{"a", "b"} {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		open = append(open, f)
	}
	if err := writeAtomic(dir, map[string]file{"a": {[]byte("new-a"), 0o644}, "b": {[]byte("new-b"), 0o644}}, fixedNow.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"old-a", "old-b"} {
		b := make([]byte, 16)
		n, _ := open[i].Read(b)
		if string(b[:n]) != want {
			t.Errorf("open file read %q after the update, want %q", b[:n], want)
		}
	}
	wantFile(t, filepath.Join(dir, "a"), "new-a", 0o644)
	wantFile(t, filepath.Join(dir, "b"), "new-b", 0o644)
}
