package volumes

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestResolveSubPath(t *testing.T) {
	vol, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"data/inner", "other"} {
		if err := os.MkdirAll(filepath.Join(vol, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{
		"etc":        "/etc",
		"up":         "..",
		"data/back":  "../../..",
		"inside":     "data/inner",
		"abs-inside": filepath.Join(vol, "other"),
		"dangling":   "nowhere/at/all",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(vol, name)); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		subPath string
		want    string // relative to the volume
		wantErr string
	}{
		{name: "an empty subPath is the volume", subPath: "", want: "."},
		{name: "an existing directory", subPath: "data/inner", want: "data/inner"},
		{name: "a missing directory is made", subPath: "new/deeper", want: "new/deeper"},
		{name: "a link inside the volume is followed", subPath: "inside/x", want: "data/inner/x"},
		{name: "an absolute link into the volume is followed", subPath: "abs-inside", want: "other"},
		{name: "an absolute path is refused", subPath: "/etc", wantErr: "must be a relative path"},
		{name: "a climb out is refused", subPath: "../x", wantErr: "must not contain '..'"},
		{name: "a climb out from below is refused", subPath: "data/../../x", wantErr: "must not contain '..'"},
		{name: "a link to /etc is refused", subPath: "etc/passwd", wantErr: "is not within volume path"},
		{name: "a link to the volume's parent is refused", subPath: "up", wantErr: "is not within volume path"},
		{name: "a link climbing out from below is refused", subPath: "data/back/x", wantErr: "is not within volume path"},
		{name: "a dangling link is refused", subPath: "dangling", wantErr: "resolve link"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ResolveSubPath(vol, tc.subPath)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ResolveSubPath(%q) = %q, %v; want an error with %q", tc.subPath, got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := filepath.Join(vol, tc.want)
			if got != want {
				t.Fatalf("ResolveSubPath(%q) = %s, want %s", tc.subPath, got, want)
			}
			st, err := os.Stat(got)
			if err != nil || !st.IsDir() {
				t.Fatalf("%s is not a directory: %v", got, err)
			}
			if st.Mode().Perm() != 0o755 && tc.subPath == "new/deeper" {
				t.Errorf("made mode %v, want 0755", st.Mode().Perm())
			}
		})
	}
	if _, err := os.Stat("/etc/passwd/x"); err == nil {
		t.Error("something was made outside the volume")
	}
}

func TestExpandSubPathExpr(t *testing.T) {
	env := map[string]string{"POD_NAME": "web-0", "ESCAPE": "../..", "ROOT": "/etc"}
	tests := []struct {
		expr, want, wantErr string
	}{
		{expr: "logs/$(POD_NAME)", want: "logs/web-0"},
		{expr: "$$(POD_NAME)", want: "$(POD_NAME)"},
		{expr: "$(UNKNOWN)/x", want: "$(UNKNOWN)/x"},
		{expr: "$(ESCAPE)/x", wantErr: "must not contain '..'"},
		{expr: "$(ROOT)", wantErr: "must be a relative path"},
	}
	for _, tc := range tests {
		got, err := ExpandSubPathExpr(tc.expr, env)
		switch {
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%q: %q, %v; want an error with %q", tc.expr, got, err, tc.wantErr)
		case tc.wantErr == "" && (err != nil || got != tc.want):
			t.Errorf("%q: %q, %v; want %q", tc.expr, got, err, tc.want)
		}
	}
}
