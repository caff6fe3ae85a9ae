//go:build unix

package embedded

import (
	"errors"
	"os"
	"syscall"
)

// lockFile takes an exclusive advisory lock on path, so that two stores (in
// one process or two) never append to the same log. The kernel releases it
// when the process dies, so a crash leaves nothing to clean up.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrLocked
		}
		return nil, err
	}
	return f, nil
}
