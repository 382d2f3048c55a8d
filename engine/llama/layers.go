package llama

import (
	"math"

	"github.com/synthloop/synthloop/engine/tensor"
)

// Each layer below is a pair of functions: the forward pass and the backward
// pass that maps the gradient of its output to gradients of its inputs and
// weights. Backward functions accumulate (+=) into weight gradients and into
// input gradients where a residual connection makes that the natural
// operation; the doc comment of each says which.

// linear computes y = x·Wᵀ for x [n,in], W [out,in], y [n,out], the layout of
// torch.nn.Linear, so exported weights need no transposition.
func linear(y, x, w []float32, n, in, out int) {
	tensor.Sgemm(false, true, n, out, in, 1, x, in, w, in, 0, y, out)
}

// linearAdd accumulates y += x·Wᵀ: a projection added onto the residual
// stream.
func linearAdd(y, x, w []float32, n, in, out int) {
	tensor.Sgemm(false, true, n, out, in, 1, x, in, w, in, 1, y, out)
}

// linearBackward accumulates dW += dyᵀ·x and sets (beta 0) or accumulates
// (beta 1) dx = dy·W.
func linearBackward(dx, dw, dy, x, w []float32, n, in, out int, beta float32) {
	tensor.Sgemm(true, false, out, in, n, 1, dy, out, x, in, 1, dw, in)
	tensor.Sgemm(false, false, n, in, out, 1, dy, out, w, in, beta, dx, in)
}

// rmsnorm sets y = x / rms(x) · w row by row and records 1/rms for backward.
// The sum of squares is accumulated in float64 so that wide rows keep their
// precision; it costs nothing next to the matrix products.
func rmsnorm(y, rstd, x, w []float32, n, d int, eps float64) {
	for i := range n {
		xr := x[i*d : i*d+d]
		var ss float64
		for _, v := range xr {
			ss += float64(v) * float64(v)
		}
		r := float32(1 / math.Sqrt(ss/float64(d)+eps))
		rstd[i] = r
		yr := y[i*d : i*d+d]
		for j, v := range xr {
			yr[j] = v * r * w[j]
		}
	}
}

// rmsnormApply recomputes the forward output from the recorded 1/rms, so the
// normalised activations need not be kept for backward.
func rmsnormApply(y, rstd, x, w []float32, n, d int) {
	for i := range n {
		xr, yr, r := x[i*d:i*d+d], y[i*d:i*d+d], rstd[i]
		for j, v := range xr {
			yr[j] = v * r * w[j]
		}
	}
}

// rmsnormBackward accumulates dx += ∂L/∂x and dw += ∂L/∂w given dy.
// With g = dy⊙w and r = 1/rms: ∂L/∂x = r·g − x·r³·(g·x)/d.
func rmsnormBackward(dx, dw, dy, x, rstd, w []float32, n, d int) {
	for i := range n {
		xr, dyr, dxr, r := x[i*d:i*d+d], dy[i*d:i*d+d], dx[i*d:i*d+d], rstd[i]
		var dot float64
		for j, v := range xr {
			dot += float64(dyr[j]*w[j]) * float64(v)
		}
		c := float32(dot/float64(d)) * r * r * r
		for j, v := range xr {
			dxr[j] += r*dyr[j]*w[j] - v*c
			dw[j] += dyr[j] * v * r
		}
	}
}

// rope rotates each adjacent pair (2i, 2i+1) of every head of row r by
// pos[r]·θᵢ; sign −1 applies the inverse rotation, which is the backward
// pass because rotations are orthogonal.
func rope(x, cos, sin []float32, pos []int, heads, hd int, sign float32) {
	half := hd / 2
	for r, p := range pos {
		c, s := cos[p*half:p*half+half], sin[p*half:p*half+half]
		row := x[r*heads*hd : (r+1)*heads*hd]
		for h := range heads {
			v := row[h*hd : h*hd+hd]
			for i := range half {
				x0, x1, si := v[2*i], v[2*i+1], sign*s[i]
				v[2*i] = x0*c[i] - x1*si
				v[2*i+1] = x0*si + x1*c[i]
			}
		}
	}
}

// attnShape describes the attention problem of one batch: t positions,
// heads query heads sharing kvHeads key/value heads, each hd wide. Rows are
// processed in blocks of block queries, which only need the keys up to the
// block's end: causal masking then skips most of the upper triangle instead
// of computing and discarding it.
type attnShape struct {
	t, heads, kvHeads, hd, block int
}

// attnBlock is the default query block: large enough to keep the GEMMs
// efficient, small enough that a 256-token sequence skips 3/8 of the work.
const attnBlock = 64

// attentionGroup runs causal attention for batch row b and the query heads
// that share key/value head kvh. q/att rows hold all query heads and k/v rows
// all kv heads; p receives the softmax weights [heads, t, t] of this batch
// row (zero above the diagonal). Grouping by kv head lets backward
// accumulate dK and dV without locks.
func attentionGroup(s attnShape, b, kvh int, q, k, v, p, att []float32) {
	t, hd := s.t, s.hd
	qs, ks := s.heads*hd, s.kvHeads*hd
	scale := float32(1 / math.Sqrt(float64(hd)))
	group := s.heads / s.kvHeads
	kb := k[b*t*ks+kvh*hd:]
	vb := v[b*t*ks+kvh*hd:]
	for h := kvh * group; h < (kvh+1)*group; h++ {
		qb, ab := q[b*t*qs+h*hd:], att[b*t*qs+h*hd:]
		pb := p[(b*s.heads+h)*t*t : (b*s.heads+h+1)*t*t]
		for i0 := 0; i0 < t; i0 += s.block {
			i1 := min(i0+s.block, t)
			tensor.Sgemm(false, true, i1-i0, i1, hd, scale, qb[i0*qs:], qs, kb, ks, 0, pb[i0*t:], t)
			for i := i0; i < i1; i++ {
				row := pb[i*t : i*t+t]
				tensor.Softmax(row[:i+1])
				clear(row[i+1:])
			}
			tensor.Sgemm(false, false, i1-i0, hd, i1, 1, pb[i0*t:], t, vb, ks, 0, ab[i0*qs:], qs)
		}
	}
}

// attentionGroupBackward mirrors attentionGroup: from datt it sets dq for the
// group's heads and sets dk, dv for kv head kvh. dp is a [t,t] scratch.
func attentionGroupBackward(s attnShape, b, kvh int, q, k, v, p, datt, dq, dk, dv, dp []float32) {
	t, hd := s.t, s.hd
	qs, ks := s.heads*hd, s.kvHeads*hd
	scale := float32(1 / math.Sqrt(float64(hd)))
	group := s.heads / s.kvHeads
	kb, vb := k[b*t*ks+kvh*hd:], v[b*t*ks+kvh*hd:]
	dkb, dvb := dk[b*t*ks+kvh*hd:], dv[b*t*ks+kvh*hd:]
	for i := range t {
		clear(dkb[i*ks : i*ks+hd])
		clear(dvb[i*ks : i*ks+hd])
	}
	for h := kvh * group; h < (kvh+1)*group; h++ {
		qb, dqb, db := q[b*t*qs+h*hd:], dq[b*t*qs+h*hd:], datt[b*t*qs+h*hd:]
		pb := p[(b*s.heads+h)*t*t : (b*s.heads+h+1)*t*t]
		for i0 := 0; i0 < t; i0 += s.block {
			i1 := min(i0+s.block, t)
			m := i1 - i0
			tensor.Sgemm(false, true, m, i1, hd, 1, db[i0*qs:], qs, vb, ks, 0, dp[i0*t:], t)
			tensor.Sgemm(true, false, i1, hd, m, 1, pb[i0*t:], t, db[i0*qs:], qs, 1, dvb, ks)
			// Softmax backward: dS = P ⊙ (dP − rowsum(P ⊙ dP)); masked
			// entries have P = 0 and so get no gradient.
			for i := i0; i < i1; i++ {
				pr, dr := pb[i*t:i*t+i+1], dp[i*t:i*t+i1]
				var dot float32
				for j, x := range pr {
					dot += x * dr[j]
				}
				for j, x := range pr {
					dr[j] = x * (dr[j] - dot)
				}
				clear(dr[i+1:])
			}
			tensor.Sgemm(false, false, m, hd, i1, scale, dp[i0*t:], t, kb, ks, 0, dqb[i0*qs:], qs)
			tensor.Sgemm(true, false, i1, hd, m, scale, dp[i0*t:], t, qb[i0*qs:], qs, 1, dkb, ks)
		}
	}
}
