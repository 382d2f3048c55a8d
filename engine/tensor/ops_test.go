package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// opsModes are the row kernel implementations this CPU can run: Go, and
// AVX-512 or AVX2 where it has them.
func opsModes() []string {
	modes := []string{"go"}
	if hasAVX512Ops() {
		modes = append(modes, "avx512")
	}
	if hasAVX2() {
		modes = append(modes, "avx2")
	}
	return modes
}

// setOps selects the row kernels of a mode and returns a function that
// restores the previous choice.
func setOps(mode string) (restore func()) {
	p512, p2 := opsAVX512, opsAVX2
	opsAVX512, opsAVX2 = mode == "avx512", mode == "avx2"
	return func() { opsAVX512, opsAVX2 = p512, p2 }
}

// withOps runs f with each implementation of the row kernels this CPU has.
func withOps(t *testing.T, f func(t *testing.T)) {
	for _, mode := range opsModes() {
		t.Run("ops="+mode, func(t *testing.T) {
			defer setOps(mode)()
			f(t)
		})
	}
}

var opLens = []int{0, 1, 3, 15, 16, 17, 31, 33, 63, 64, 65, 100, 257, 1000}

func close32(got, want float64, rel float64) bool {
	if math.IsNaN(want) {
		return math.IsNaN(got)
	}
	if math.IsInf(want, 0) {
		return got == want
	}
	return math.Abs(got-want) <= rel*math.Max(1, math.Abs(want))
}

// checkTail fails if x beyond n was written: kernels must not touch memory
// past the slice they were given.
func checkTail(t *testing.T, name string, buf []float32, n int) {
	t.Helper()
	for i := n; i < len(buf); i++ {
		if buf[i] != 7 {
			t.Fatalf("%s(n=%d) wrote index %d", name, n, i)
		}
	}
}

func withTail(r *rand.Rand, n int) []float32 {
	x := randSlice(r, n+20)
	for i := n; i < len(x); i++ {
		x[i] = 7
	}
	return x
}

func TestRowKernels(t *testing.T) {
	withOps(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		for _, n := range opLens {
			x, y := withTail(r, n), withTail(r, n)
			var want float64
			for i := range n {
				want += float64(x[i]) * float64(y[i])
			}
			if got := Dot(x[:n], y[:n]); !close32(float64(got), want, 1e-5*float64(n+1)) {
				t.Errorf("Dot(n=%d) = %v, want %v", n, got, want)
			}

			y0 := append([]float32(nil), y...)
			Axpy(-1.5, x[:n], y[:n])
			for i := range n {
				if w := y0[i] + -1.5*x[i]; !close32(float64(y[i]), float64(w), 1e-6) {
					t.Fatalf("Axpy(n=%d)[%d] = %v, want %v", n, i, y[i], w)
				}
			}
			checkTail(t, "Axpy", y, n)

			x0 := append([]float32(nil), x...)
			Scale(3, x[:n])
			for i := range n {
				if x[i] != 3*x0[i] {
					t.Fatalf("Scale(n=%d)[%d] = %v, want %v", n, i, x[i], 3*x0[i])
				}
			}
			checkTail(t, "Scale", x, n)

			d := withTail(r, n)
			Add(d[:n], x[:n], y[:n])
			for i := range n {
				if d[i] != x[i]+y[i] {
					t.Fatalf("Add(n=%d)[%d] = %v, want %v", n, i, d[i], x[i]+y[i])
				}
			}
			checkTail(t, "Add", d, n)
		}
	})
}

func TestSoftmax(t *testing.T) {
	withOps(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(3, 4))
		for _, n := range opLens[1:] {
			x := withTail(r, n)
			for i := range n {
				x[i] *= 30 // logits spread over ±30 exercise range reduction
			}
			if n > 4 {
				x[1] = float32(math.Inf(-1)) // a causal mask
				x[n-1] = 80                  // a large logit must not overflow
			}
			m := math.Inf(-1)
			for _, v := range x[:n] {
				m = math.Max(m, float64(v))
			}
			want := make([]float64, n)
			var s float64
			for i, v := range x[:n] {
				want[i] = math.Exp(float64(v) - m)
				s += want[i]
			}
			Softmax(x[:n])
			for i := range n {
				if !close32(float64(x[i]), want[i]/s, 3e-6) {
					t.Fatalf("Softmax(n=%d)[%d] = %v, want %v", n, i, x[i], want[i]/s)
				}
			}
			checkTail(t, "Softmax", x, n)
		}
	})
}

func TestExp(t *testing.T) {
	withOps(t, func(t *testing.T) {
		// expSum with shift 0 exposes e^x itself.
		xs := []float32{0, 1, -1, 0.5, 88, 88.5, 89, 100, -87, -87.5, -103, -104, -200,
			float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 1e-8, -1e-8, 20.25, -20.25}
		for i := -1000; i <= 1000; i++ {
			xs = append(xs, float32(i)*0.0871)
		}
		got := append([]float32(nil), xs...)
		switch {
		case opsAVX512:
			expSumAVX512(&got[0], len(got), 0)
		case opsAVX2:
			avx2Blocks(len(got), func(i, n int) int { return expShiftAVX2(&got[i], n, 0) }, func(i int) { got[i] = exp32(got[i]) })
			for i := len(got) &^ 7; i < len(got); i++ {
				got[i] = exp32(got[i])
			}
		default:
			for i, v := range got {
				got[i] = exp32(v)
			}
		}
		for i, x := range xs {
			want := math.Exp(float64(x))
			if want < 0x1p-126 {
				// Below the normal range either 0 or the denormal is fine.
				if got[i] < 0 || float64(got[i]) > 0x1p-126 {
					t.Errorf("exp(%v) = %v, want ~0", x, got[i])
				}
				continue
			}
			if want > math.MaxFloat32 {
				want = math.Inf(1)
			}
			if !close32(float64(got[i]), want, 4e-7) {
				t.Errorf("exp(%v) = %v, want %v", x, got[i], want)
			}
		}
	})
}

func TestActivations(t *testing.T) {
	withOps(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(5, 6))
		sig := func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
		for _, n := range opLens {
			g, u, dout := withTail(r, n), withTail(r, n), withTail(r, n)
			for i := range n {
				g[i] *= 12
			}
			dst := withTail(r, n)
			SiLU(dst[:n], g[:n])
			for i := range n {
				w := float64(g[i]) * sig(float64(g[i]))
				if !close32(float64(dst[i]), w, 2e-6) {
					t.Fatalf("SiLU(n=%d)[%d] = %v, want %v", n, i, dst[i], w)
				}
			}
			checkTail(t, "SiLU", dst, n)
			SwiGLU(dst[:n], g[:n], u[:n])
			for i := range n {
				w := float64(g[i]) * sig(float64(g[i])) * float64(u[i])
				if !close32(float64(dst[i]), w, 2e-6) {
					t.Fatalf("SwiGLU(n=%d)[%d] = %v, want %v", n, i, dst[i], w)
				}
			}
			checkTail(t, "SwiGLU", dst, n)
			dg, du := withTail(r, n), withTail(r, n)
			SwiGLUBackward(dg[:n], du[:n], dout[:n], g[:n], u[:n])
			for i := range n {
				gg, uu, d := float64(g[i]), float64(u[i]), float64(dout[i])
				s := sig(gg)
				// Finite differences of the forward in float64 agree with the
				// closed form used here to ~1e-9.
				wg := d * uu * s * (1 + gg*(1-s))
				wu := d * gg * s
				if !close32(float64(dg[i]), wg, 3e-6) || !close32(float64(du[i]), wu, 3e-6) {
					t.Fatalf("SwiGLUBackward(n=%d)[%d] = %v, %v, want %v, %v", n, i, dg[i], du[i], wg, wu)
				}
			}
			checkTail(t, "SwiGLUBackward dgate", dg, n)
			checkTail(t, "SwiGLUBackward dup", du, n)
		}
	})
}

// TestRMSNormGradient checks RMSNormBackward against central finite
// differences of a scalar loss L = Σ dout·RMSNorm(x, w).
func TestRMSNormGradient(t *testing.T) {
	withOps(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(7, 8))
		for _, n := range []int{1, 5, 17, 64, 100} {
			x, w, dout := randSlice(r, n), randSlice(r, n), randSlice(r, n)
			out := make([]float32, n)
			const eps = 1e-5
			loss := func() float64 {
				RMSNorm(out, x, w, eps)
				var s float64
				for i := range out {
					s += float64(out[i]) * float64(dout[i])
				}
				return s
			}
			rstd := RMSNorm(out, x, w, eps)
			var ss float64
			for _, v := range x {
				ss += float64(v) * float64(v)
			}
			r := 1 / math.Sqrt(ss/float64(n)+eps)
			for i := range n {
				if want := float64(x[i]) * r * float64(w[i]); !close32(float64(out[i]), want, 1e-6) {
					t.Fatalf("RMSNorm(n=%d)[%d] = %v, want %v", n, i, out[i], want)
				}
			}
			dx, dw := make([]float32, n), make([]float32, n)
			dx[0], dw[0] = 1, 1 // Backward accumulates: start from non-zero
			RMSNormBackward(dx, dw, dout, x, w, rstd)
			dx[0]--
			dw[0]--
			const h = 1e-2
			for i := range n {
				for _, v := range []struct {
					name string
					p    []float32
					g    float32
				}{{"dx", x, dx[i]}, {"dw", w, dw[i]}} {
					old := v.p[i]
					v.p[i] = old + h
					lp := loss()
					v.p[i] = old - h
					lm := loss()
					v.p[i] = old
					num := (lp - lm) / (2 * h)
					if math.Abs(num-float64(v.g)) > 2e-3*math.Max(1, math.Abs(num)) {
						t.Errorf("n=%d %s[%d] = %v, finite difference %v", n, v.name, i, v.g, num)
					}
				}
			}
		}
	})
}

func TestRowKernelsNoAlloc(t *testing.T) {
	x, y := make([]float32, 1000), make([]float32, 1000)
	allocs := testing.AllocsPerRun(10, func() {
		Dot(x, y)
		Axpy(1, x, y)
		Softmax(x)
		SwiGLU(x, x, y)
		RMSNorm(y, y, x, 1e-5)
	})
	if allocs != 0 {
		t.Errorf("row kernels allocate %v times per run", allocs)
	}
}

func BenchmarkRowKernels(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	const n = 1024
	x, y, z, w := randSlice(r, n), randSlice(r, n), randSlice(r, n), randSlice(r, n)
	for _, mode := range opsModes() {
		restore := setOps(mode)
		for _, bc := range []struct {
			name string
			f    func()
		}{
			{"Dot", func() { Dot(x, y) }},
			{"Axpy", func() { Axpy(0.5, x, y) }},
			{"Softmax", func() { copy(z, x); Softmax(z) }},
			{"SwiGLU", func() { SwiGLU(z, x, y) }},
			{"SwiGLUBackward", func() { SwiGLUBackward(z, w, y, x, y) }},
			{"RMSNorm", func() { RMSNorm(z, x, y, 1e-5) }},
		} {
			b.Run(fmt.Sprintf("%s/ops=%s", bc.name, mode), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(4 * n)
				for b.Loop() {
					bc.f()
				}
			})
		}
		restore()
	}
}

// TestAVX2SameAsGo checks that the AVX2 row kernels give the Go loops'
// results bit for bit (Dot and Axpy on finite values), on ordinary values and on exp's edges: arguments
// beyond ±87.3 and 88.3 (blocks left to Go), infinities, NaN, zeros of
// both signs, denormals; with the outputs written over the inputs too.
func TestAVX2SameAsGo(t *testing.T) {
	if !hasAVX2() {
		t.Skip("no AVX2")
	}
	if goFusesFMA {
		t.Skip("GOAMD64=v3 or later: the Go loops use fused multiply-adds")
	}
	r := rand.New(rand.NewPCG(9, 10))
	special := []float32{0, float32(math.Copysign(0, -1)), 1e-40, -1e-40, 87.2, 87.3, 87.4, -87.2, -87.3, -87.4,
		88.2, 88.3, 88.4, -88.2, -88.3, -88.4, 89, -89, 100, -100, 104, -104, 200, -200,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 0.5, -0.5, 1e6, -1e6}
	fill := func(n int, scale float32, withSpecial bool) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = (r.Float32()*2 - 1) * scale
			if withSpecial && r.IntN(16) == 0 {
				x[i] = special[r.IntN(len(special))]
			}
		}
		return x
	}
	same := func(name string, n int, got, want []float32) {
		t.Helper()
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%s(n=%d)[%d]: AVX2 %v (%#x), Go %v (%#x)", name, n, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
			}
		}
	}
	// both runs f with the Go loops and with AVX2 on copies of the inputs
	// and compares every slice afterwards.
	both := func(name string, n int, in [][]float32, f func(s [][]float32)) {
		t.Helper()
		var res [2][][]float32
		for k, mode := range []string{"go", "avx2"} {
			s := make([][]float32, len(in))
			for i := range in {
				s[i] = append([]float32(nil), in[i]...)
			}
			restore := setOps(mode)
			f(s)
			restore()
			res[k] = s
		}
		for i := range in {
			same(fmt.Sprintf("%s arg %d", name, i), n, res[1][i], res[0][i])
		}
	}
	lens := append([]int{8, 24, 4096}, opLens...)
	for _, n := range lens {
		for _, sp := range []bool{false, true} {
			for _, scale := range []float32{1, 12, 120} {
				g, u, d := fill(n, scale, sp), fill(n, 3, sp), fill(n, 2, sp)
				o := fill(n, 1, false)
				both("SiLU", n, [][]float32{o, g}, func(s [][]float32) { SiLU(s[0], s[1]) })
				both("SiLU in place", n, [][]float32{g}, func(s [][]float32) { SiLU(s[0], s[0]) })
				both("SwiGLU", n, [][]float32{o, g, u}, func(s [][]float32) { SwiGLU(s[0], s[1], s[2]) })
				both("SwiGLU over gate", n, [][]float32{g, u}, func(s [][]float32) { SwiGLU(s[0], s[0], s[1]) })
				both("SwiGLU over up", n, [][]float32{g, u}, func(s [][]float32) { SwiGLU(s[1], s[0], s[1]) })
				o2 := fill(n, 1, false)
				both("SwiGLUBackward", n, [][]float32{o, o2, d, g, u}, func(s [][]float32) { SwiGLUBackward(s[0], s[1], s[2], s[3], s[4]) })
				both("SwiGLUBackward in place", n, [][]float32{d, g, u}, func(s [][]float32) { SwiGLUBackward(s[1], s[2], s[0], s[1], s[2]) })
				if n > 0 {
					both("Softmax", n, [][]float32{g}, func(s [][]float32) { Softmax(s[0]) })
				}
				if !sp {
					// Finite values only: which NaN a sum ends with depends
					// on operand order, which Go's compiler chooses.
					both("Dot", n, [][]float32{g, u, {0}}, func(s [][]float32) { s[2][0] = Dot(s[0], s[1]) })
					both("Axpy", n, [][]float32{g, u}, func(s [][]float32) { Axpy(-1.25, s[0], s[1]) })
				}
			}
		}
	}
	// Every float32 near the edges of exp's ranges, through Softmax's
	// exponentials with the maximum at 0.
	for _, c := range []float32{-87.3, -88.3, 88.3, 0} {
		x := make([]float32, 0, 4096+1)
		v := c
		for range 2048 {
			v = math.Nextafter32(v, float32(math.Inf(-1)))
		}
		for range 4096 {
			x = append(x, v)
			v = math.Nextafter32(v, float32(math.Inf(1)))
		}
		neg := make([]float32, len(x))
		for i := range x {
			neg[i] = -x[i]
		}
		both("SiLU near edges", len(x), [][]float32{x, neg}, func(s [][]float32) { SiLU(s[0], s[0]); SiLU(s[1], s[1]) })
		got := append([]float32(nil), x...)
		avx2Blocks(len(got), func(i, n int) int { return expShiftAVX2(&got[i], n, 0) }, func(i int) { got[i] = exp32(got[i]) })
		want := make([]float32, len(x))
		for i, v := range x {
			want[i] = exp32(v)
		}
		same("exp near edges", len(x), got, want)
	}
}
