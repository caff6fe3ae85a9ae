//go:build !unix

package embedded

import "os"

// lockFile only creates path where advisory locks are not available: one
// store per directory is then the operator's responsibility.
func lockFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
}
