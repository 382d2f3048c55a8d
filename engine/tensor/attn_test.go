package tensor

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

// attnPerKey is what decoding attention did before AttnScores and AttnMix:
// one Dot and one Axpy per cached key. The fused kernels must match it bit
// for bit under every kernel set.
func attnPerKey(s, out, q, k, v []float32, stride int, scale float32, p []float32) {
	hd := len(q)
	for i := range s {
		s[i] = scale * Dot(q, k[i*stride:i*stride+hd])
	}
	clear(out)
	for i, pi := range p {
		Axpy(pi, v[i*stride:i*stride+hd], out)
	}
}

// attnVals fills n floats like attention's inputs, with a sprinkling of
// zeros of both signs and of values whose products underflow to −0, where
// the order of adds decides the sign of a zero sum.
func attnVals(r *rand.Rand, n int, special bool) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
		if special {
			switch r.IntN(12) {
			case 0:
				x[i] = 0
			case 1:
				x[i] = float32(math.Copysign(0, -1))
			case 2:
				x[i] *= 1e-30
			}
		}
	}
	return x
}

// checkAttn compares AttnScores and AttnMix with attnPerKey on one case
// and checks they write nothing past s and out. With anyNaN, a NaN matches
// any NaN: see FuzzAttn.
func checkAttn(t *testing.T, q, k, v, p []float32, n, stride int, scale float32, anyNaN bool) {
	t.Helper()
	hd := len(q)
	want, wantOut := make([]float32, n), make([]float32, hd)
	attnPerKey(want, wantOut, q, k, v, stride, scale, p)
	got, gotOut := make([]float32, n+1), make([]float32, hd+1)
	for i := range got {
		got[i] = 7
	}
	for i := range gotOut {
		gotOut[i] = 7
	}
	AttnScores(got[:n], q, k, stride, scale)
	AttnMix(gotOut[:hd], p, v, stride)
	same := func(a, b float32) bool {
		return math.Float32bits(a) == math.Float32bits(b) || anyNaN && a != a && b != b
	}
	for i := range want {
		if !same(got[i], want[i]) {
			t.Fatalf("hd=%d n=%d stride=%d: score %d = %v (%#x), per-key Dot %v (%#x)", hd, n, stride, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
		}
	}
	for i := range wantOut {
		if !same(gotOut[i], wantOut[i]) {
			t.Fatalf("hd=%d n=%d stride=%d: out[%d] = %v (%#x), per-key Axpy %v (%#x)", hd, n, stride, i, gotOut[i], math.Float32bits(gotOut[i]), wantOut[i], math.Float32bits(wantOut[i]))
		}
	}
	checkTail(t, "AttnScores", got, n)
	checkTail(t, "AttnMix", gotOut, hd)
}

// TestAttnSameAsPerKey covers head dims 8..64 (16 and 32 are the models'),
// every key count up to 40 and longer ones across the 16-key blocks up to
// 300, and strides of one head, several heads, and odd ones, with each
// implementation of the row kernels (Go, AVX2, AVX-512: what
// SYNTHLOOP_CPU=generic, avx2 and the default select).
func TestAttnSameAsPerKey(t *testing.T) {
	ns := []int{47, 48, 49, 63, 64, 65, 75, 90, 127, 128, 129, 255, 256, 257, 300}
	for n := 1; n <= 40; n++ {
		ns = append(ns, n)
	}
	withOps(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(3, 4))
		for hd := 8; hd <= 64; hd++ {
			for _, stride := range []int{hd, hd + 1, 4 * hd, 2*hd + 3} {
				for _, n := range ns {
					if testing.Short() && n%5 != 0 {
						continue
					}
					size := (n-1)*stride + hd
					q, k, v := attnVals(r, hd, n%3 == 0), attnVals(r, size, n%3 == 0), attnVals(r, size, n%3 == 0)
					p := attnVals(r, n, n%3 == 0)
					checkAttn(t, q, k, v, p, n, stride, float32(1/math.Sqrt(float64(hd))), false)
				}
			}
			// Every product underflows to −0: a dot product is then −0 or
			// +0 by the order of its adds (dotAVX512's adds of its empty
			// accumulators make it +0).
			q, k := make([]float32, hd), make([]float32, 20*hd)
			for i := range q {
				q[i] = -1e-30
			}
			for i := range k {
				k[i] = 1e-30
			}
			checkAttn(t, q, k, k, q[:1], 20, hd, 1, false)
		}
	})
}

// TestAttnEdgeShapes covers what TestAttnSameAsPerKey does not: head dims
// outside 8–64 (0 included, where Dot gives each key 0), key counts around
// the 8- and 16-key blocks, and strides of 0 and below a head, whose keys
// overlap. Each must match the per-key loop, without a panic, under every
// row-kernel implementation.
func TestAttnEdgeShapes(t *testing.T) {
	withOps(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(9, 9))
		for _, hd := range []int{0, 1, 7, 8, 16, 24, 31, 48, 63, 64, 65, 72, 128} {
			for _, n := range []int{1, 7, 8, 9, 15, 16, 17, 33} {
				for _, stride := range []int{0, 1, hd / 2, hd} {
					size := (n-1)*stride + hd
					q, k, v, p := attnVals(r, hd, true), attnVals(r, size, true), attnVals(r, size, true), attnVals(r, n, true)
					func() {
						defer func() {
							if e := recover(); e != nil {
								t.Fatalf("hd=%d n=%d stride=%d: %v", hd, n, stride, e)
							}
						}()
						checkAttn(t, q, k, v, p, n, stride, 0.3, false)
					}()
				}
			}
		}
	})
}

// TestAttnBounds checks that a key or value slice too short for n keys
// panics, as slicing it per key would, rather than reading past it.
func TestAttnBounds(t *testing.T) {
	withOps(t, func(t *testing.T) {
		for _, c := range []struct {
			name string
			f    func()
		}{
			{"AttnScores", func() { AttnScores(make([]float32, 20), make([]float32, 32), make([]float32, 19*40+31), 40, 1) }},
			{"AttnMix", func() { AttnMix(make([]float32, 32), make([]float32, 20), make([]float32, 19*40+31), 40) }},
		} {
			func() {
				defer func() {
					if recover() == nil {
						t.Errorf("%s with a short slice did not panic", c.name)
					}
				}()
				c.f()
			}()
		}
	})
}

// FuzzAttn compares the fused kernels with attnPerKey on arbitrary float
// bits (NaNs, infinities, denormals) under every row-kernel implementation.
// Of two NaNs, an add or multiply returns its first operand, and which one
// that is in Dot's Go loop is the compiler's choice (the fuzzer's
// instrumented build chose the other): so where the per-key path runs Go
// arithmetic (Go and AVX2 row kernels) a NaN matches any NaN. AVX-512 is
// all assembly, and its NaNs match bit for bit.
func FuzzAttn(f *testing.F) {
	f.Add(uint8(32), uint16(75), uint8(96), []byte("seed"))
	f.Add(uint8(16), uint16(17), uint8(0), []byte{0, 0, 0, 0x80, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, hd8 uint8, n16 uint16, extra uint8, data []byte) {
		hd, n := 8+int(hd8)%57, 1+int(n16)%300
		stride := hd + int(extra)
		size := (n-1)*stride + hd
		// The bytes, repeated, are the float bits of q, k, v and p.
		vals := make([]float32, hd+2*size+n)
		if len(data) < 4 {
			data = append(data, 1, 2, 3, 4)
		}
		for i := range vals {
			j := (4 * i) % (len(data) - 3)
			vals[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[j:]) + uint32(i))
		}
		q, k, v, p := vals[:hd], vals[hd:hd+size], vals[hd+size:hd+2*size], vals[hd+2*size:]
		for _, mode := range opsModes() {
			t.Run(fmt.Sprint(mode), func(t *testing.T) {
				defer setOps(mode)()
				checkAttn(t, q, k, v, p, n, stride, 0.17677669, mode != "avx512")
			})
		}
	})
}

// threadCPUBench runs f b.N times on one OS thread and reports its thread
// CPU time per run, which the other processes of a loaded machine do not
// inflate as they do ns/op.
func threadCPUBench(b *testing.B, f func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	t0 := threadCPU()
	for b.Loop() {
		f()
	}
	b.ReportMetric((threadCPU()-t0)*1e9/float64(b.N), "cpu-ns/op")
}

// BenchmarkAttn times one head's scores and mix over n keys, per key and
// fused, with each row-kernel implementation.
func BenchmarkAttn(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, hd := range []int{16, 32} {
		const n, stride = 75, 128
		size := (n-1)*stride + hd
		q, k, v, p := attnVals(r, hd, false), attnVals(r, size, false), attnVals(r, size, false), attnVals(r, n, false)
		s, out := make([]float32, n), make([]float32, hd)
		for _, mode := range opsModes() {
			restore := setOps(mode)
			b.Run(fmt.Sprintf("hd%d/ops=%s/perkey", hd, mode), func(b *testing.B) {
				threadCPUBench(b, func() { attnPerKey(s, out, q, k, v, stride, 0.25, p) })
			})
			b.Run(fmt.Sprintf("hd%d/ops=%s/fused", hd, mode), func(b *testing.B) {
				threadCPUBench(b, func() {
					AttnScores(s, q, k, stride, 0.25)
					AttnMix(out, p, v, stride)
				})
			})
			restore()
		}
	}
}
