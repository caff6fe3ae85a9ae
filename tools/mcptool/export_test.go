package mcptool

import "context"

// NotifyToolsChanged delivers the server's tool-list notification as the
// MCP client's handler does, so that a test can send many at a chosen time.
func (s *Source) NotifyToolsChanged() { s.toolsChanged(context.Background(), nil) }
