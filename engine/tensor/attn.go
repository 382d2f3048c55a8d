package tensor

// AttnScores sets s[i] = scale·Dot(q, k[i·stride:i·stride+len(q)]) for
// i < len(s): one attention head's scores over len(s) cached keys, stride
// floats apart, in one call. The result is that of the per-key Dot, bit
// for bit, on every kernel set; with AVX-512 and 16 ≤ len(q) < 64 it comes
// from one kernel that scores sixteen keys at a time (a decoding step's
// attention was mostly Dot's call and horizontal-sum overhead on 16- and
// 32-float heads), with AVX2, len(q) a multiple of 8 from 8 to 64 and at
// least 8 keys from one that scores eight. stride must be ≥ 0.
func AttnScores(s, q, k []float32, stride int, scale float32) {
	n, hd := len(s), len(q)
	if n == 0 {
		return
	}
	k = k[:(n-1)*stride+hd]
	if opsAVX512 && hd >= minAsm && hd < 64 && stride >= 0 {
		if m := n &^ 15; m > 0 && m < n {
			// The last n−m keys as a block of 16 that overlaps the
			// previous one, which it rewrites with the same bits: cheaper
			// than scoring them one at a time.
			attnScoresAVX512(&s[0], &q[0], &k[0], stride, hd, m, scale)
			attnScoresAVX512(&s[n-16], &q[0], &k[(n-16)*stride], stride, hd, 16, scale)
			return
		}
		attnScoresAVX512(&s[0], &q[0], &k[0], stride, hd, n, scale)
		return
	}
	// hd > 0: an empty q has no &q[0] to pass (Dot gives each key 0).
	if opsAVX2 && !goFusesFMA && hd > 0 && hd%8 == 0 && hd <= 64 && n >= 8 && stride >= 0 {
		// Eight keys at a time, the last n mod 8 as an overlapping eight.
		m := n &^ 7
		attnScoresAVX2(&s[0], &q[0], &k[0], stride, hd, m, scale)
		if m < n {
			attnScoresAVX2(&s[n-8], &q[0], &k[(n-8)*stride], stride, hd, 8, scale)
		}
		return
	}
	for i := range s {
		s[i] = scale * Dot(q, k[i*stride:i*stride+hd])
	}
}

// AttnMix sets out = Σ p[i]·v[i·stride:i·stride+len(out)] over i <
// len(p): one attention head's output from its probabilities and cached
// values. The sums are those of clearing out and calling Axpy once per key
// in order, bit for bit, on every kernel set; with AVX-512 and
// 16 ≤ len(out) ≤ 64, or AVX2 and len(out) a multiple of 8 up to 64, one
// kernel keeps out in registers across the keys.
// stride must be ≥ 0.
func AttnMix(out, p, v []float32, stride int) {
	n, hd := len(p), len(out)
	if n == 0 || hd == 0 {
		clear(out)
		return
	}
	v = v[:(n-1)*stride+hd]
	if opsAVX512 && hd >= minAsm && hd <= 64 && stride >= 0 {
		attnMixAVX512(&out[0], &p[0], &v[0], stride, hd, n)
		return
	}
	if opsAVX2 && hd%8 == 0 && hd <= 64 && stride >= 0 {
		attnMixAVX2(&out[0], &p[0], &v[0], stride, hd, n)
		return
	}
	clear(out)
	for i, pi := range p {
		Axpy(pi, v[i*stride:i*stride+hd], out)
	}
}
