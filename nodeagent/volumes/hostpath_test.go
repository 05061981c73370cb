package volumes

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestHostPathTypesAreCheckedWithTheKubeletsMessages(t *testing.T) {
	// Short: a socket's path must fit in sun_path.
	dir, err := os.MkdirTemp("", "hp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "s")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	missing := filepath.Join(dir, "none")

	tests := []struct {
		name    string
		path    string
		typ     *corev1.HostPathType
		wantErr string
		made    os.FileMode // the mode of what the check makes at path, if anything
	}{
		{name: "no type checks nothing", path: missing},
		{name: "empty type checks nothing", path: missing, typ: ptrType(corev1.HostPathUnset)},
		{name: "Directory is a directory", path: dir, typ: ptrType(corev1.HostPathDirectory)},
		{name: "Directory refuses a file", path: file, typ: ptrType(corev1.HostPathDirectory), wantErr: "hostPath type check failed: " + file + " is not a directory"},
		{name: "Directory refuses nothing there", path: missing, typ: ptrType(corev1.HostPathDirectory), wantErr: "hostPath type check failed: " + missing + " is not a directory"},
		{name: "DirectoryOrCreate makes a 0755 directory with its parents", path: filepath.Join(dir, "p", "d"), typ: ptrType(corev1.HostPathDirectoryOrCreate), made: os.ModeDir | 0o755},
		{name: "DirectoryOrCreate refuses a file", path: file, typ: ptrType(corev1.HostPathDirectoryOrCreate), wantErr: "hostPath type check failed: " + file + " is not a directory"},
		{name: "File is a file", path: file, typ: ptrType(corev1.HostPathFile)},
		{name: "File refuses a directory", path: dir, typ: ptrType(corev1.HostPathFile), wantErr: "hostPath type check failed: " + dir + " is not a file"},
		{name: "FileOrCreate makes an empty 0644 file", path: filepath.Join(dir, "new"), typ: ptrType(corev1.HostPathFileOrCreate), made: 0o644},
		{name: "FileOrCreate does not make the parent directory", path: filepath.Join(dir, "nodir", "f"), typ: ptrType(corev1.HostPathFileOrCreate), wantErr: "no such file or directory"},
		{name: "FileOrCreate refuses a directory", path: dir, typ: ptrType(corev1.HostPathFileOrCreate), wantErr: "hostPath type check failed: " + dir + " is not a file"},
		{name: "Socket is a socket", path: sock, typ: ptrType(corev1.HostPathSocket)},
		{name: "Socket refuses a directory", path: dir, typ: ptrType(corev1.HostPathSocket), wantErr: "hostPath type check failed: " + dir + " is not a socket file"},
		{name: "CharDevice is a character device", path: "/dev/null", typ: ptrType(corev1.HostPathCharDev)},
		{name: "CharDevice refuses a file", path: file, typ: ptrType(corev1.HostPathCharDev), wantErr: "hostPath type check failed: " + file + " is not a character device"},
		{name: "BlockDevice refuses a character device", path: "/dev/null", typ: ptrType(corev1.HostPathBlockDev), wantErr: "hostPath type check failed: /dev/null is not a block device"},
		{name: "an unknown type is refused", path: dir, typ: ptrType("Pipe"), wantErr: "Pipe is an invalid volume type"},
		{name: "a relative path is refused", path: "etc", wantErr: `hostPath "etc" is not an absolute path`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := checkHostPath(&corev1.HostPathVolumeSource{Path: tc.path, Type: tc.typ})
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
			if tc.made != 0 {
				st, err := os.Stat(tc.path)
				if err != nil {
					t.Fatalf("nothing made: %v", err)
				}
				if st.Mode() != tc.made {
					t.Errorf("made %v, want %v", st.Mode(), tc.made)
				}
			}
			if tc.wantErr == "" && tc.path == missing {
				if _, err := os.Lstat(missing); !os.IsNotExist(err) {
					t.Errorf("an unchecked path was made: %v", err)
				}
			}
		})
	}
}

func ptrType(t corev1.HostPathType) *corev1.HostPathType { return &t }
