package tensor

import "math"

// The row kernels below are the elementwise pieces of a LLaMA-style layer.
// They take equal-length slices (extra length in a longer argument is
// ignored only where stated), never allocate, and are plain Go: they are
// memory-bound next to the GEMMs, so they stay simple until a profile says
// otherwise.

// Dot returns the dot product of x and y[:len(x)].
func Dot(x, y []float32) float32 {
	y = y[:len(x)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += x[i] * y[i]
		s1 += x[i+1] * y[i+1]
		s2 += x[i+2] * y[i+2]
		s3 += x[i+3] * y[i+3]
	}
	for ; i < len(x); i++ {
		s0 += x[i] * y[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// Axpy sets y[i] += alpha·x[i] for i < len(x).
func Axpy(alpha float32, x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += alpha * v
	}
}

// Scale sets x[i] *= alpha.
func Scale(alpha float32, x []float32) {
	for i := range x {
		x[i] *= alpha
	}
}

// Add sets dst[i] = a[i] + b[i] for i < len(dst); dst may alias a or b.
func Add(dst, a, b []float32) {
	a = a[:len(dst)]
	b = b[:len(dst)]
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
	m := x[0]
	for _, v := range x[1:] {
		m = max(m, v)
	}
	var s float32
	for i, v := range x {
		e := float32(math.Exp(float64(v - m)))
		x[i] = e
		s += e
	}
	inv := 1 / s
	for i := range x {
		x[i] *= inv
	}
}

func sigmoid(x float32) float32 {
	return float32(1 / (1 + math.Exp(-float64(x))))
}

// SiLU sets dst[i] = x[i]·sigmoid(x[i]); dst may alias x.
func SiLU(dst, x []float32) {
	x = x[:len(dst)]
	for i, v := range x {
		dst[i] = v * sigmoid(v)
	}
}

// SwiGLU sets dst[i] = SiLU(gate[i])·up[i]; dst may alias gate or up.
func SwiGLU(dst, gate, up []float32) {
	gate = gate[:len(dst)]
	up = up[:len(dst)]
	for i, g := range gate {
		dst[i] = g * sigmoid(g) * up[i]
	}
}

// SwiGLUBackward sets dgate and dup to the gradients of SwiGLU given dout
// and the forward inputs gate and up (=, not +=: each is a fresh
// activation gradient). dgate may alias gate and dup may alias up.
func SwiGLUBackward(dgate, dup, dout, gate, up []float32) {
	n := len(dout)
	dgate, dup, gate, up = dgate[:n], dup[:n], gate[:n], up[:n]
	for i, d := range dout {
		g, u := gate[i], up[i]
		s := sigmoid(g)
		silu := g * s
		dgate[i] = d * u * s * (1 + g*(1-s))
		dup[i] = d * silu
	}
}
