package llama

import "math"

// expf is a float32 exp (Cephes' expf: Cody–Waite range reduction and a
// degree-6 polynomial, relative error about 1e-7). The elementwise layers
// call it hundreds of thousands of times a step, where math.Exp's float64
// path cost as much as the matrix products of small models.
func expf(x float32) float32 {
	const (
		log2e = 1.44269504088896341
		c1    = 0.693359375
		c2    = -2.12194440e-4
	)
	if x > 88.3 {
		return float32(math.Inf(1))
	}
	if x < -87.3 {
		return 0
	}
	n := float32(math.Floor(float64(x*log2e + 0.5)))
	r := x - n*c1 - n*c2
	z := r * r
	p := ((((1.9875691500e-4*r+1.3981999507e-3)*r+8.3334519073e-3)*r+4.1665795894e-2)*r+1.6666665459e-1)*r + 5.0000001201e-1
	p = p*z + r + 1
	return p * math.Float32frombits(uint32(int32(n)+127)<<23)
}
