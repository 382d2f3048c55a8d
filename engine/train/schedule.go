package train

import "math"

// Schedule gives the learning rate for a 0-based step.
type Schedule interface {
	LR(step int) float64
}

// Constant is a fixed learning rate.
type Constant float64

// LR returns the constant.
func (c Constant) LR(int) float64 { return float64(c) }

// Cosine warms up linearly from 0 to Peak over Warmup steps, then follows
// half a cosine down to Min at step Total and stays there.
type Cosine struct {
	Peak, Min     float64
	Warmup, Total int
}

// LR implements Schedule.
func (c Cosine) LR(step int) float64 {
	if step < c.Warmup {
		return c.Peak * float64(step+1) / float64(c.Warmup)
	}
	if step >= c.Total || c.Total <= c.Warmup {
		return c.Min
	}
	p := float64(step-c.Warmup) / float64(c.Total-c.Warmup)
	return c.Min + 0.5*(c.Peak-c.Min)*(1+math.Cos(math.Pi*p))
}

// WSD is warmup-stable-decay: linear warmup to Peak, a long constant phase,
// and a linear decay to Min over the last Decay steps before Total. Unlike
// cosine, the stable phase can be extended (more self-improvement rounds)
// without restarting the schedule, and a decayed checkpoint can be branched
// off at any point.
type WSD struct {
	Peak, Min            float64
	Warmup, Decay, Total int
}

// LR implements Schedule.
func (w WSD) LR(step int) float64 {
	switch start := w.Total - w.Decay; {
	case step < w.Warmup:
		return w.Peak * float64(step+1) / float64(w.Warmup)
	case step >= w.Total:
		return w.Min
	case step < start:
		return w.Peak
	default:
		p := float64(step-start+1) / float64(w.Decay)
		return w.Peak + (w.Min-w.Peak)*p
	}
}
