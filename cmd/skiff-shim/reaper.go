package main

import (
	"errors"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// reap collects every child that exits: the containers' inits, whose status it hands to finish,
// exec'd processes, whose status goes to their session, and anything else orphaned below the shim as
// its subreaper, which it just lets go. SIGCHLDs coalesce, so each wake-up reaps until no zombie is
// left.
func (s *server) reap(sigchld <-chan os.Signal) {
	for range sigchld {
		s.starting.Lock()
		for {
			var ws unix.WaitStatus
			pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil || pid <= 0 {
				break
			}
			at := time.Now()
			s.mu.Lock()
			c := s.byPid[pid]
			delete(s.byPid, pid)
			execStatus := s.execs[pid]
			delete(s.execs, pid)
			s.mu.Unlock()
			if execStatus != nil {
				execStatus <- ws // buffered for its one status
				continue
			}
			if c == nil {
				continue
			}
			code, sig := exitStatus(ws)
			go s.finish(c, code, sig, false, at)
		}
		s.starting.Unlock()
	}
}

// exitStatus returns the exit code as a shell reports it (128+n for signal n) and the killing signal.
func exitStatus(ws unix.WaitStatus) (code, sig int) {
	if ws.Signaled() {
		return 128 + int(ws.Signal()), int(ws.Signal())
	}
	return ws.ExitStatus(), 0
}
