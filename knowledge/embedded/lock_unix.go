//go:build unix

package embedded

import (
	"errors"
	"os"
	"syscall"
	"time"
)

// Lock attempts: a store closed a moment ago may still look locked while
// another goroutine of the process forks a child, which holds a copy of the
// lock's file descriptor until it execs (close-on-exec). Retrying for a short
// while tells that from a store that really has the directory.
const (
	lockAttempts = 10
	lockRetry    = 20 * time.Millisecond
)

// lockFile takes an exclusive advisory lock on path, so that two stores (in
// one process or two) never append to the same log. The kernel releases it
// when the process dies, so a crash leaves nothing to clean up.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, err
		}
		if attempt == lockAttempts {
			f.Close()
			return nil, ErrLocked
		}
		time.Sleep(lockRetry)
	}
}
