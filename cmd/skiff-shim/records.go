package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/skiffhq/skiff/nodeagent/runtime/runc/shim"
)

// writeFileAtomic replaces path with data through a temporary file and a rename, so that a reader (or
// a shim started after a crash) sees the old record or the new one, never half of one. There is no
// fsync: the records must survive the shim, not the machine, whose reboot ends the containers anyway.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}

func (s *server) recordPath(id string) string {
	return filepath.Join(s.recDir, id+".json")
}

// persist writes c's current record. Writers of one container are serialized and each writes the
// record as it is when its turn comes, so the file ends with the newest state whatever the order.
func (s *server) persist(c *container) error {
	c.fileMu.Lock()
	defer c.fileMu.Unlock()
	s.mu.Lock()
	rec := c.snapshot()
	s.mu.Unlock()
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(s.recordPath(rec.ID), append(b, '\n')); err != nil {
		return fmt.Errorf("write record of %s: %w", rec.ID, err)
	}
	return nil
}

// readRecords loads every record in dir; a record that does not parse is an error, not skipped, since
// it stands for a container that may still run.
func readRecords(dir string) ([]shim.Container, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var recs []shim.Container
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			// A temporary file left by a crash in the middle of a write: the rename never happened.
			_ = os.Remove(filepath.Join(dir, name))
			continue
		}
		if !strings.HasSuffix(name, ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		var rec shim.Container
		if err := json.Unmarshal(b, &rec); err != nil {
			return nil, fmt.Errorf("record %s: %w", name, err)
		}
		if rec.ID+".json" != name {
			return nil, fmt.Errorf("record %s holds container %q", name, rec.ID)
		}
		recs = append(recs, rec)
	}
	return recs, nil
}

// procStartTime returns the start time of pid in clock ticks since boot (field 22 of
// /proc/<pid>/stat), which together with the pid names one process for good.
func procStartTime(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces and parentheses; the fields after its closing
	// parenthesis start with field 3.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	fields := strings.Fields(string(b[i+1:]))
	if len(fields) < 20 {
		return 0, errors.New("short /proc stat")
	}
	if fields[0] == "Z" || fields[0] == "X" {
		return 0, os.ErrNotExist
	}
	return strconv.ParseUint(fields[19], 10, 64)
}
