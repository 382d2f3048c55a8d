package text

import "math/bits"

// Score is a ROUGE-L score of a candidate against a reference.
type Score struct {
	Precision float64 // LCS / len(candidate)
	Recall    float64 // LCS / len(reference)
	F         float64 // 2PR / (P + R); 0 when the LCS is 0
}

// RougeL scores candidate against reference exactly as rouge_score's
// _score_lcs does (reference is its "target", candidate its "prediction"):
// all zero when either is empty, otherwise precision and recall from the
// longest common subsequence and their harmonic mean. F is symmetric, which
// is all the novelty filter uses. This is the reference implementation:
// a quadratic dynamic programme over string tokens.
func RougeL(reference, candidate []string) Score {
	if len(reference) == 0 || len(candidate) == 0 {
		return Score{}
	}
	return scoreLCS(LCS(reference, candidate), len(reference), len(candidate))
}

// RougeLText tokenizes both texts with tok and scores them with RougeL.
func RougeLText(tok Tokenizer, reference, candidate string) Score {
	return RougeL(tok.Tokens(reference), tok.Tokens(candidate))
}

// scoreLCS turns an LCS length into a Score with the same floating-point
// operations, in the same order, as rouge_score (precision and recall first,
// then 2*p*r/(p+r)), so scores compare equal to the Python ones bit for bit
// and the fast index and the reference agree to the last bit as well.
func scoreLCS(lcs, refLen, candLen int) Score {
	if lcs == 0 {
		return Score{}
	}
	p := float64(lcs) / float64(candLen)
	r := float64(lcs) / float64(refLen)
	return Score{Precision: p, Recall: r, F: fmeasure(p, r)}
}

// fmeasure is rouge_score's scoring.fmeasure. The explicit conversions
// forbid the compiler from fusing operations, which would change the last
// bit on some architectures.
func fmeasure(p, r float64) float64 {
	if p+r <= 0 {
		return 0
	}
	num := float64(float64(2*p) * r)
	return num / float64(p+r)
}

// fscore is the F-measure of an LCS of length lcs between a reference of
// refLen tokens and a candidate of candLen tokens, computed exactly as
// RougeL computes it.
func fscore(lcs, refLen, candLen int) float64 {
	return scoreLCS(lcs, refLen, candLen).F
}

// LCS returns the length of the longest common subsequence of a and b by the
// textbook dynamic programme, keeping two rows.
func LCS(a, b []string) int {
	if len(a) < len(b) {
		a, b = b, a
	}
	row := make([]int32, 2*(len(b)+1))
	return lcsRows(a, b, row[:len(b)+1], row[len(b)+1:])
}

// lcsDP is LCS over interned tokens, for the brute-force index and tests.
func lcsDP(a, b []int32, row []int32) int {
	if len(a) < len(b) {
		a, b = b, a
	}
	need := 2 * (len(b) + 1)
	if cap(row) < need {
		row = make([]int32, need)
	}
	row = row[:need]
	clear(row)
	return lcsRows(a, b, row[:len(b)+1], row[len(b)+1:])
}

// lcsRows runs the dynamic programme of LCS on two zeroed rows of
// len(b)+1, b being the shorter sequence so the rows stay small.
func lcsRows[T comparable](a, b []T, prev, cur []int32) int {
	for i := range a {
		for j := range b {
			switch {
			case a[i] == b[j]:
				cur[j+1] = prev[j] + 1
			case prev[j+1] >= cur[j]:
				cur[j+1] = prev[j+1]
			default:
				cur[j+1] = cur[j]
			}
		}
		prev, cur = cur, prev
	}
	return int(prev[len(b)])
}

// pattern is one side of a bit-parallel LCS computation (Allison & Dix 1986
// as formulated by Hyyrö 2004): for every distinct token of the pattern, a
// bit mask of the positions where it occurs. Computing the LCS against a text
// of n tokens then takes n steps of a few word operations per 64 pattern
// tokens, instead of m·n table cells.
type pattern struct {
	m     int
	words int      // 64-bit words per mask
	masks []uint64 // masks[sym*words : (sym+1)*words]
	v     []uint64 // scratch state for multi-word patterns
}

// reset prepares p for a pattern of m tokens with nsym distinct symbols.
func (p *pattern) reset(m, nsym int) {
	p.m = m
	p.words = (m + 63) / 64
	need := nsym * p.words
	if cap(p.masks) < need {
		p.masks = make([]uint64, need)
	}
	p.masks = p.masks[:need]
	clear(p.masks)
	if cap(p.v) < p.words {
		p.v = make([]uint64, p.words)
	}
	p.v = p.v[:p.words]
}

// set records that symbol sym occurs at position i of the pattern.
func (p *pattern) set(sym, i int) {
	p.masks[sym*p.words+i/64] |= 1 << (uint(i) % 64)
}

// lcs returns the LCS length of the pattern and a text of token ids, where
// slot maps a token id to its pattern symbol, or to -1 when the pattern does
// not contain it.
//
// The state V starts all ones; each text token with match mask M updates it
// to (V + U) | (V - U) with U = V & M, and the LCS is the number of zero bits
// among the low m bits at the end. V - U never borrows because U is a subset
// of V, so only the addition needs a carry between words. Bits above m stay
// one: masks are zero there, so a carry into them is absorbed by the OR with
// V - U, and the final carry out of the top word is dropped.
func (p *pattern) lcs(ids []int32, slot []int32) int {
	if p.words == 1 {
		v := ^uint64(0)
		for _, id := range ids {
			s := slot[id]
			if s < 0 {
				continue
			}
			u := v & p.masks[s]
			v = (v + u) | (v - u)
		}
		return 64 - bits.OnesCount64(v)
	}
	v := p.v
	for i := range v {
		v[i] = ^uint64(0)
	}
	w := p.words
	for _, id := range ids {
		s := int(slot[id])
		if s < 0 {
			continue
		}
		m := p.masks[s*w : s*w+w]
		var carry uint64
		for i := range v {
			u := v[i] & m[i]
			var sum uint64
			sum, carry = bits.Add64(v[i], u, carry)
			v[i] = sum | (v[i] - u)
		}
	}
	zeros := 0
	for _, x := range v {
		zeros += 64 - bits.OnesCount64(x)
	}
	return zeros
}
