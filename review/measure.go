package review

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/store"
)

// Measured is what Measure reads: the log, the sample, its plan and the
// sampled records.
type Measured interface {
	Log
	Sample(ctx context.Context, stage string) ([]string, error)
	MetaValue(ctx context.Context, key string) (string, bool, error)
	Record(ctx context.Context, id string) (*record.Record, error)
}

// Estimate is the measured share of acceptable records of one stratum.
// Acceptable means accepted as generated: an edited record needed a fix and
// counts against the share (Edited says how many).
type Estimate struct {
	Stage                        string
	Stratum                      string
	Population, Drawn            int
	Reviewed                     int // sampled records with a standing verdict
	Acceptable, Edited, Rejected int
	// Share is Acceptable/Reviewed; Low and High bound it at 95%: the Wilson
	// score interval, with the sample's share of a small stratum taken into
	// account (finite population correction) so that a fully reviewed
	// stratum has no uncertainty left.
	Share, Low, High float64
}

// String reads like "kept: 91% ± 3% of 12400 records acceptable, n = 300 reviewed of 300 sampled (…)".
func (e Estimate) String() string {
	if e.Reviewed == 0 {
		return fmt.Sprintf("%s: 0 of %d sampled records reviewed (population %d)", e.Stratum, e.Drawn, e.Population)
	}
	share := fmt.Sprintf("%.0f%% ± %.0f%%", 100*e.Share, 100*(e.High-e.Low)/2)
	if lo, hi := e.Share-e.Low, e.High-e.Share; 2*min(lo, hi) < max(lo, hi) {
		// Near 0% or 100% the interval is lopsided and a ± would misstate it.
		share = fmt.Sprintf("%.0f%% (95%% CI %.0f–%.0f%%)", 100*e.Share, 100*e.Low, 100*e.High)
	}
	return fmt.Sprintf("%s: %s of %d records acceptable, n = %d reviewed of %d sampled (%d edited, %d rejected)",
		e.Stratum, share, e.Population, e.Reviewed, e.Drawn, e.Edited, e.Rejected)
}

// Measure estimates, per stratum of the stage's sample, the share of
// acceptable records; it returns nothing when no sample was drawn.
func Measure(ctx context.Context, run Measured, stage string) ([]Estimate, error) {
	raw, ok, err := run.MetaValue(ctx, planKey(stage))
	if err != nil || !ok {
		return nil, err
	}
	var p Plan
	if err := json.Unmarshal([]byte(raw), &p); err != nil {
		return nil, fmt.Errorf("review: sample plan of %s: %w", stage, err)
	}
	ids, err := run.Sample(ctx, stage)
	if err != nil {
		return nil, err
	}
	d, err := Load(ctx, run, stage)
	if err != nil {
		return nil, err
	}
	est := map[string]*Estimate{}
	var out []*Estimate
	for _, s := range p.Strata {
		e := &Estimate{Stage: stage, Stratum: s.Name, Population: s.Population, Drawn: s.Drawn}
		est[s.Name] = e
		out = append(out, e)
	}
	for _, id := range ids {
		v, ok := d.Outcome(id)
		if !ok {
			continue
		}
		r, err := run.Record(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("review: measure %s: %w", stage, err)
		}
		e := est[StratumOf(r)]
		if e == nil {
			continue // the record changed stratum since the draw (a rerun): it no longer measures its stratum
		}
		e.Reviewed++
		switch v.Kind {
		case store.Accept:
			e.Acceptable++
		case store.Edit:
			e.Edited++
		default:
			e.Rejected++
		}
	}
	res := make([]Estimate, len(out))
	for i, e := range out {
		if e.Reviewed > 0 {
			e.Share = float64(e.Acceptable) / float64(e.Reviewed)
			e.Low, e.High = wilson(e.Acceptable, e.Reviewed, e.Population)
		}
		res[i] = *e
	}
	return res, nil
}

// wilson is the 95% Wilson score interval of k successes in n draws without
// replacement from a population of size pop; the finite population
// correction enters as a larger effective sample.
func wilson(k, n, pop int) (lo, hi float64) {
	p := float64(k) / float64(n)
	if pop <= n {
		return p, p
	}
	fpc := float64(pop-n) / float64(pop-1)
	m := float64(n) / fpc
	const z = 1.959964
	den := 1 + z*z/m
	c := (p + z*z/(2*m)) / den
	h := z * math.Sqrt(p*(1-p)/m+z*z/(4*m*m)) / den
	return max(0, c-h), min(1, c+h)
}

// Agreement is how two raters agree on keep-or-reject over the records both
// decided: Cohen's kappa, NaN when it is undefined (both always said the same
// one thing). Rater "pipeline" is the record's own status, the verdict of the
// stage's filters and judges.
type Agreement struct {
	A, B     string
	N        int
	Observed float64 // share of records they agree on
	Kappa    float64
}

// PipelineRater names the pipeline's verdict in Agreements.
const PipelineRater = "pipeline"

// Agreements measures every pair of reviewers of the stage, and every
// reviewer against the pipeline's verdict; record reads a decided record.
func Agreements(ctx context.Context, log Log, stage string, rec func(ctx context.Context, id string) (*record.Record, error)) ([]Agreement, error) {
	d, err := Load(ctx, log, stage)
	if err != nil {
		return nil, err
	}
	labels := map[string]map[string]bool{} // rater -> record -> keep
	set := func(rater, id string, keep bool) {
		if labels[rater] == nil {
			labels[rater] = map[string]bool{}
		}
		labels[rater][id] = keep
	}
	ids := make([]string, 0, len(d.ByRecord))
	for id := range d.ByRecord {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		for _, v := range d.ByRecord[id] {
			set(v.Reviewer, id, v.Keep())
		}
		r, err := rec(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("review: agreement on %s: %w", stage, err)
		}
		if r.Status != record.Failed {
			set(PipelineRater, id, r.Status == record.Kept)
		}
	}
	var raters []string
	for r := range labels {
		if r != PipelineRater {
			raters = append(raters, r)
		}
	}
	slices.Sort(raters)
	var out []Agreement
	for i, a := range raters {
		for _, b := range append(slices.Clone(raters[i+1:]), PipelineRater) {
			if ag, ok := kappa(labels[a], labels[b]); ok {
				ag.A, ag.B = a, b
				out = append(out, ag)
			}
		}
	}
	return out, nil
}

// kappa is Cohen's kappa of two binary raters over the items both rated.
func kappa(a, b map[string]bool) (Agreement, bool) {
	var n, agree, aYes, bYes int
	for id, x := range a {
		y, ok := b[id]
		if !ok {
			continue
		}
		n++
		if x == y {
			agree++
		}
		if x {
			aYes++
		}
		if y {
			bYes++
		}
	}
	if n == 0 {
		return Agreement{}, false
	}
	fn := float64(n)
	po := float64(agree) / fn
	pa, pb := float64(aYes)/fn, float64(bYes)/fn
	pe := pa*pb + (1-pa)*(1-pb)
	k := math.NaN()
	if pe < 1 {
		k = (po - pe) / (1 - pe)
	}
	return Agreement{N: n, Observed: po, Kappa: k}, true
}

// Progress counts a stage's reviewed records.
type Progress struct {
	Reviewed   int            `json:"reviewed"`    // records with at least one standing verdict
	ByReviewer map[string]int `json:"by_reviewer"` // standing verdicts per reviewer
	Sampled    int            `json:"sampled"`
	// Pairs counts the pairs people compared; PairsAgree those where they
	// preferred the pipeline's chosen answer, PairsTied those they tied.
	Pairs      int `json:"pairs"`
	PairsAgree int `json:"pairs_agree"`
	PairsTied  int `json:"pairs_tied"`
	// CandidatePairs counts the pairs of candidates people compared, and
	// HumanPairs the preference pairs those comparisons made (see
	// Decisions.HumanPairs).
	CandidatePairs int `json:"candidate_pairs"`
	HumanPairs     int `json:"human_pairs"`
}

// PairLine says how the people's preferences agree with the pipeline's
// pairs, "" when no pair was compared.
func (p Progress) PairLine() string {
	var parts []string
	if p.Pairs > 0 {
		s := fmt.Sprintf("pairs: %d compared, the pipeline's chosen answer preferred in %d", p.Pairs, p.PairsAgree)
		if decided := p.Pairs - p.PairsTied; decided > 0 {
			s += fmt.Sprintf(" (%.0f%% of those not tied)", 100*float64(p.PairsAgree)/float64(decided))
		}
		parts = append(parts, s+fmt.Sprintf(", %d tied", p.PairsTied))
	}
	if p.CandidatePairs > 0 {
		parts = append(parts, fmt.Sprintf("candidates: %d pairs compared, %d preference pairs made", p.CandidatePairs, p.HumanPairs))
	}
	return strings.Join(parts, "; ")
}

// Summarize is what the summary page and `status` show of a stage's
func Summarize(ctx context.Context, st Measured, stage string) (Progress, []Estimate, []Agreement, error) {
	p := Progress{ByReviewer: map[string]int{}}
	d, err := Load(ctx, st, stage)
	if err != nil {
		return p, nil, nil, err
	}
	p.Reviewed = len(d.ByRecord)
	for _, vs := range d.ByRecord {
		for _, v := range vs {
			p.ByReviewer[v.Reviewer]++
		}
	}
	for id, vs := range d.Prefs {
		compared := map[[2]int]bool{}
		for _, v := range vs {
			if c, ok := store.ParseCandidatePref(v.Reason); ok {
				compared[c.Pair()] = true
			}
		}
		if len(compared) > 0 {
			p.CandidatePairs += len(compared)
			r, err := st.Record(ctx, id)
			if err != nil {
				return p, nil, nil, err
			}
			p.HumanPairs += len(d.HumanPairs(r))
		}
		side, ok := d.Preference(id)
		if !ok {
			continue
		}
		p.Pairs++
		switch side {
		case "chosen":
			p.PairsAgree++
		case "tie":
			p.PairsTied++
		}
	}
	ids, err := st.Sample(ctx, stage)
	if err != nil {
		return p, nil, nil, err
	}
	p.Sampled = len(ids)
	est, err := Measure(ctx, st, stage)
	if err != nil {
		return p, nil, nil, err
	}
	ags, err := Agreements(ctx, st, stage, st.Record)
	return p, est, ags, err
}
