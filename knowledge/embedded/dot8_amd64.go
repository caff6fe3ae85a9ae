package embedded

import "golang.org/x/sys/cpu"

// useSIMD selects the AVX2 kernel, on CPUs that have it.
var useSIMD = cpu.X86.HasAVX2

// dot8SIMD is the dot product of n int8 codes at a and b; n is a positive
// multiple of 64.
//
//go:noescape
func dot8SIMD(a, b *int8, n int) int32
