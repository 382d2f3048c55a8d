package tensor

import "math"

// The row kernels below are the elementwise pieces of a LLaMA-style layer.
// They never allocate. The length of the first (destination) slice sets n;
// the others must be at least that long. Those built on exp (Softmax, SiLU,
// SwiGLU), RMSNorm and the reductions and updates used per token in
// attention (Dot, Axpy) have AVX-512 versions: in Go, math.Exp alone would cost a small
// model's training step more time than its GEMMs. The exp-based ones, Dot
// and Axpy also have AVX2 versions, which match the Go loops bit for bit. The rest stay
// simple Go where they are memory-bound anyway.

// opsAVX512 selects the assembly row kernels; tests switch it off to cover
// the Go versions.
var opsAVX512 = hasAVX512Ops()

// opsAVX2 selects the AVX2 kernels of the exp-based row kernels (SiLU,
// SwiGLU and its backward, Softmax's exponentials), Dot and Axpy where AVX-512 is
// missing. Unlike the AVX-512 ones they compute exactly what the Go loops
// do, bit for bit, 8 floats at a time; tests switch them off to compare.
var opsAVX2 = !hasAVX512Ops() && hasAVX2()

// minAsm is the length below which the Go loop beats the call overhead.
const minAsm = 16

// Dot returns the dot product of x and y[:len(x)].
func Dot(x, y []float32) float32 {
	y = y[:len(x)]
	if opsAVX512 && len(x) >= minAsm {
		return dotAVX512(&x[0], &y[0], len(x))
	}
	n := len(x) &^ 31
	var s float32
	if opsAVX2 && n > 0 {
		s = dotAVX2(&x[0], &y[0], n)
	} else {
		s = dot32(x[:n], y[:n])
	}
	for i := n; i < len(x); i++ {
		s += x[i] * y[i]
	}
	return s
}

// dot32 sums the products of len(x), a multiple of 32, elements in the
// order dotAVX2 does with four 8-lane accumulators, so that Dot gives the
// same bits with and without AVX2: 32 running sums, one per i mod 32, added
// up as a tree. (Decoding one token is mostly Dot, in the matrix-vector
// products and attention, so it needs the vector kernel.)
func dot32(x, y []float32) float32 {
	var a [32]float32
	for i := 0; i < len(x); i += 32 {
		xs, ys := x[i:i+32], y[i:i+32]
		for j := range a {
			a[j] += xs[j] * ys[j]
		}
	}
	var t [8]float32
	for j := range t {
		t[j] = (a[j] + a[8+j]) + (a[16+j] + a[24+j])
	}
	return ((t[0] + t[4]) + (t[2] + t[6])) + ((t[1] + t[5]) + (t[3] + t[7]))
}

// Axpy sets y[i] += alpha·x[i] for i < len(x).
func Axpy(alpha float32, x, y []float32) {
	y = y[:len(x)]
	if opsAVX512 && len(x) >= minAsm {
		axpyAVX512(alpha, &x[0], &y[0], len(x))
		return
	}
	i := 0
	if opsAVX2 && len(x) >= 8 {
		i = len(x) &^ 7
		axpyAVX2(alpha, &x[0], &y[0], i)
	}
	for ; i < len(x); i++ {
		y[i] += alpha * x[i]
	}
}

// Scale sets x[i] *= alpha.
func Scale(alpha float32, x []float32) {
	if opsAVX512 && len(x) >= minAsm {
		scaleAVX512(alpha, &x[0], len(x))
		return
	}
	for i := range x {
		x[i] *= alpha
	}
}

// Add sets dst[i] = a[i] + b[i] for i < len(dst); dst may alias a or b.
func Add(dst, a, b []float32) {
	a = a[:len(dst)]
	b = b[:len(dst)]
	if opsAVX512 && len(dst) >= minAsm {
		addAVX512(&dst[0], &a[0], &b[0], len(dst))
		return
	}
	for i := range dst {
		dst[i] = a[i] + b[i]
	}
}

// RMSNorm sets out = x / rms(x) · w, where rms(x) = sqrt(mean(x²) + eps),
// and returns 1/rms(x) for RMSNormBackward. out may alias x.
func RMSNorm(out, x, w []float32, eps float32) (rstd float32) {
	n := len(x)
	out = out[:n]
	w = w[:n]
	ss := Dot(x, x)
	rstd = float32(1 / math.Sqrt(float64(ss/float32(n)+eps)))
	if opsAVX512 && n >= minAsm {
		rmsScaleAVX512(&out[0], &x[0], &w[0], n, rstd)
		return rstd
	}
	for i, v := range x {
		out[i] = v * rstd * w[i]
	}
	return rstd
}

// RMSNormBackward accumulates the gradients of out = RMSNorm(x, w): it adds
// to dx and dw (+=, as a residual stream and a weight shared across rows
// need) given dout, the forward input x, w, and the rstd RMSNorm returned.
func RMSNormBackward(dx, dw, dout, x, w []float32, rstd float32) {
	n := len(x)
	dx, dw, dout, w = dx[:n], dw[:n], dout[:n], w[:n]
	// d/dx_i of x_j·rstd·w_j = rstd·w_j·δij − x_j·w_j·rstd³·x_i/n, so
	// dx = rstd·(dout∘w) − x·rstd³/n·Σ dout_j·w_j·x_j.
	if opsAVX512 && n >= minAsm {
		dot := dot3AVX512(&dout[0], &w[0], &x[0], n)
		rmsBackAVX512(&dx[0], &dw[0], &dout[0], &x[0], &w[0], n, rstd, dot*rstd*rstd*rstd/float32(n))
		return
	}
	var dot float32
	for i := range x {
		dot += dout[i] * w[i] * x[i]
	}
	c := dot * rstd * rstd * rstd / float32(n)
	for i, v := range x {
		dw[i] += dout[i] * v * rstd
		dx[i] += dout[i]*w[i]*rstd - v*c
	}
}

// Softmax replaces x with softmax(x), subtracting the maximum first so large
// logits do not overflow. Entries equal to -Inf get probability 0; if all
// are -Inf the result is NaN, as the distribution is undefined.
func Softmax(x []float32) {
	if len(x) == 0 {
		return
	}
	var m, s float32
	if opsAVX512 && len(x) >= minAsm {
		m = maxAVX512(&x[0], len(x))
		s = expSumAVX512(&x[0], len(x), m)
	} else {
		m = x[0]
		for _, v := range x[1:] {
			m = max(m, v)
		}
		i := 0
		if opsAVX2 && len(x) >= minAsm {
			i = avx2Blocks(len(x), func(i, n int) int { return expShiftAVX2(&x[i], n, m) }, func(i int) { x[i] = exp32(x[i] - m) })
		}
		for ; i < len(x); i++ {
			x[i] = exp32(x[i] - m)
		}
		// The sum in order, as the Go loop always did.
		for _, e := range x {
			s += e
		}
	}
	Scale(1/s, x)
}

// exp32 is e^x in float32 by the same method as the assembly (Cephes expf:
// x = n·ln2 + r, a degree-7 polynomial for e^r, then scaling by 2^n), about
// ten times faster than math.Exp and within 2 ulp of it.
func exp32(x float32) float32 {
	switch {
	case x != x:
		return x
	case x > 88.3:
		// 2^n would overflow the exponent field; this range is rare.
		return float32(math.Exp(float64(x)))
	case x < -87.3:
		return 0 // below the smallest normal float32
	}
	const magic = 12582912 // 1.5·2^23: adding it rounds to an integer
	t := x*1.44269504088896341 + magic
	n := t - magic
	r := x - n*0.693359375
	r -= n * -2.12194440e-4
	p := float32(1.9875691500e-4)
	p = p*r + 1.3981999507e-3
	p = p*r + 8.3334519073e-3
	p = p*r + 4.1665795894e-2
	p = p*r + 1.6666665459e-1
	p = p*r + 5.0000001201e-1
	y := p*r*r + r + 1
	return y * math.Float32frombits(uint32(int32(n)+127)<<23)
}

func sigmoid(x float32) float32 {
	return 1 / (1 + exp32(-x))
}

// SiLU sets dst[i] = x[i]·sigmoid(x[i]); dst may alias x.
func SiLU(dst, x []float32) {
	x = x[:len(dst)]
	if opsAVX512 && len(dst) >= minAsm {
		siluAVX512(&dst[0], &x[0], len(dst))
		return
	}
	i := 0
	if opsAVX2 && len(dst) >= minAsm {
		i = avx2Blocks(len(dst), func(i, n int) int { return siluAVX2(&dst[i], &x[i], n) }, func(i int) { dst[i] = x[i] * sigmoid(x[i]) })
	}
	for ; i < len(dst); i++ {
		dst[i] = x[i] * sigmoid(x[i])
	}
}

// SwiGLU sets dst[i] = SiLU(gate[i])·up[i]; dst may alias gate or up.
func SwiGLU(dst, gate, up []float32) {
	gate = gate[:len(dst)]
	up = up[:len(dst)]
	if opsAVX512 && len(dst) >= minAsm {
		swigluAVX512(&dst[0], &gate[0], &up[0], len(dst))
		return
	}
	i := 0
	if opsAVX2 && len(dst) >= minAsm {
		i = avx2Blocks(len(dst), func(i, n int) int { return swigluAVX2(&dst[i], &gate[i], &up[i], n) }, func(i int) { swiglu1(dst, gate, up, i) })
	}
	for ; i < len(dst); i++ {
		swiglu1(dst, gate, up, i)
	}
}

func swiglu1(dst, gate, up []float32, i int) {
	g := gate[i]
	dst[i] = g * sigmoid(g) * up[i]
}

// SwiGLUBackward sets dgate and dup to the gradients of SwiGLU given dout
// and the forward inputs gate and up (=, not +=: each is a fresh
// activation gradient). dgate may alias gate and dup may alias up.
func SwiGLUBackward(dgate, dup, dout, gate, up []float32) {
	n := len(dout)
	dgate, dup, gate, up = dgate[:n], dup[:n], gate[:n], up[:n]
	if opsAVX512 && n >= minAsm {
		swigluBackAVX512(&dgate[0], &dup[0], &dout[0], &gate[0], &up[0], n)
		return
	}
	i := 0
	if opsAVX2 && n >= minAsm {
		i = avx2Blocks(n, func(i, n int) int { return swigluBackAVX2(&dgate[i], &dup[i], &dout[i], &gate[i], &up[i], n) }, func(i int) { swigluBack1(dgate, dup, dout, gate, up, i) })
	}
	for ; i < n; i++ {
		swigluBack1(dgate, dup, dout, gate, up, i)
	}
}

func swigluBack1(dgate, dup, dout, gate, up []float32, i int) {
	d, g, u := dout[i], gate[i], up[i]
	s := sigmoid(g)
	silu := g * s
	dgate[i] = d * u * s * (1 + g*(1-s))
	dup[i] = d * silu
}

// avx2Blocks runs an AVX2 kernel over the whole 8-float blocks of n
// elements and returns where they end. kernel(i, m) does m elements from
// i, a multiple of 8, and returns how many it did before a block it left
// to Go (an exp argument above 88.3 or NaN, where exp32 calls math.Exp):
// one does one element in Go, and the kernel goes on after that block.
func avx2Blocks(n int, kernel func(i, m int) int, one func(i int)) int {
	end := n &^ 7
	for i := 0; i < end; {
		i += kernel(i, end-i)
		if i < end {
			for j := i; j < i+8; j++ {
				one(j)
			}
			i += 8
		}
	}
	return end
}
