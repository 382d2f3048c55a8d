//go:build !amd64

package tensor

func availableKernels() []*kernelSet { return []*kernelSet{genericKernels} }

func variantKernels() []*kernelSet { return availableKernels() }

func pickKernels() *kernelSet { return genericKernels }

func hasAVX512() bool    { return false }
func hasAVX512Ops() bool { return false }

// The assembly row kernels exist only on amd64; opsAVX512 is false here.
func dotAVX512(x, y *float32, n int) float32                            { panic("unreachable") }
func axpyAVX512(alpha float32, x, y *float32, n int)                    { panic("unreachable") }
func scaleAVX512(alpha float32, x *float32, n int)                      { panic("unreachable") }
func addAVX512(dst, a, b *float32, n int)                               { panic("unreachable") }
func maxAVX512(x *float32, n int) float32                               { panic("unreachable") }
func expSumAVX512(x *float32, n int, shift float32) float32             { panic("unreachable") }
func siluAVX512(dst, x *float32, n int)                                 { panic("unreachable") }
func swigluAVX512(dst, gate, up *float32, n int)                        { panic("unreachable") }
func swigluBackAVX512(dgate, dup, dout, gate, up *float32, n int)       { panic("unreachable") }
func rmsScaleAVX512(out, x, w *float32, n int, s float32)               { panic("unreachable") }
func dot3AVX512(a, b, c *float32, n int) float32                        { panic("unreachable") }
func rmsBackAVX512(dx, dw, dout, x, w *float32, n int, rstd, c float32) { panic("unreachable") }

func hasAVX2() bool { return false }

func siluAVX2(dst, x *float32, n int) int                           { panic("unreachable") }
func swigluAVX2(dst, gate, up *float32, n int) int                  { panic("unreachable") }
func swigluBackAVX2(dgate, dup, dout, gate, up *float32, n int) int { panic("unreachable") }
func expShiftAVX2(x *float32, n int, shift float32) int             { panic("unreachable") }
func dotAVX2(x, y *float32, n int) float32                          { panic("unreachable") }
func axpyAVX2(alpha float32, x, y *float32, n int)                  { panic("unreachable") }

func attnScoresAVX512(s, q, k *float32, stride, hd, n int, scale float32) { panic("unreachable") }
func attnMixAVX512(out, p, v *float32, stride, hd, n int)                 { panic("unreachable") }
func attnScoresAVX2(s, q, k *float32, stride, hd, n int, scale float32)   { panic("unreachable") }
func attnMixAVX2(out, p, v *float32, stride, hd, n int)                   { panic("unreachable") }
