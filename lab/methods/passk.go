package methods

import "math"

// PassAtK is the unbiased estimator of pass@k from n samples of which c are
// correct (Chen et al., 2021): the probability that a draw of k of the n
// samples without replacement holds at least one correct one,
// 1 − C(n−c, k)/C(n, k). It is computed as a product, which neither
// overflows nor loses precision for large n. Arguments outside
// 0 ≤ c ≤ n, 1 ≤ k ≤ n give NaN: with fewer samples than k there is no
// unbiased estimate.
func PassAtK(n, c, k int) float64 {
	if n < 1 || k < 1 || k > n || c < 0 || c > n {
		return math.NaN()
	}
	if n-c < k {
		return 1
	}
	fail := 1.0
	for i := n - c + 1; i <= n; i++ {
		fail *= 1 - float64(k)/float64(i)
	}
	return 1 - fail
}
