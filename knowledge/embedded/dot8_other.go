//go:build !amd64

package embedded

const useSIMD = false

func dot8SIMD(a, b *int8, n int) int32 { panic("unreachable") }
