#include "textflag.h"

// func dot8SIMD(a, b *int8, n int) int32
// n is a positive multiple of 64. Codes are sign-extended to int16 and
// multiplied pairwise into int32 sums (VPMADDWD): |127·127·2| fits easily.
TEXT ·dot8SIMD(SB), NOSPLIT, $0-28
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DI
	MOVQ n+16(FP), CX
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3

loop:
	VPMOVSXBW (SI), Y4
	VPMOVSXBW (DI), Y5
	VPMADDWD  Y5, Y4, Y4
	VPADDD    Y4, Y0, Y0
	VPMOVSXBW 16(SI), Y6
	VPMOVSXBW 16(DI), Y7
	VPMADDWD  Y7, Y6, Y6
	VPADDD    Y6, Y1, Y1
	VPMOVSXBW 32(SI), Y8
	VPMOVSXBW 32(DI), Y9
	VPMADDWD  Y9, Y8, Y8
	VPADDD    Y8, Y2, Y2
	VPMOVSXBW 48(SI), Y10
	VPMOVSXBW 48(DI), Y11
	VPMADDWD  Y11, Y10, Y10
	VPADDD    Y10, Y3, Y3
	ADDQ      $64, SI
	ADDQ      $64, DI
	SUBQ      $64, CX
	JNZ       loop

	VPADDD       Y1, Y0, Y0
	VPADDD       Y3, Y2, Y2
	VPADDD       Y2, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPADDD       X1, X0, X0
	VPSHUFD      $0x4E, X0, X1
	VPADDD       X1, X0, X0
	VPSHUFD      $0xB1, X0, X1
	VPADDD       X1, X0, X0
	VMOVD        X0, AX
	VZEROUPPER
	MOVL         AX, ret+24(FP)
	RET
