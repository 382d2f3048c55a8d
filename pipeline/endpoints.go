package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/synthloop/synthloop/model"
)

// EndpointsKey is the run-store meta key under which Run keeps, for each
// model served by several endpoints, what each endpoint did in the last run
// (a JSON object: model name → []model.EndpointStats), for `status`.
const EndpointsKey = "endpoints"

// saveEndpoints writes the endpoint counters of the models that have several.
func (s *backendSet) saveEndpoints(ctx context.Context, st RunStore) error {
	s.mu.Lock()
	out := map[string][]model.EndpointStats{}
	for name, ob := range s.m {
		if ob.stats == nil {
			continue
		}
		if eps := ob.stats.Stats().Endpoints; len(eps) > 1 {
			out[name] = eps
		}
	}
	s.mu.Unlock()
	if len(out) == 0 {
		return nil
	}
	b, _ := json.Marshal(out)
	if err := st.SetMetaValue(ctx, EndpointsKey, string(b)); err != nil {
		return fmt.Errorf("pipeline: %w", err)
	}
	return nil
}

// ModelEndpoints is one model's endpoint counters as Run saved them.
type ModelEndpoints struct {
	Model     string
	Endpoints []model.EndpointStats
}

// ReadEndpoints returns what Run saved under EndpointsKey, by model name.
func ReadEndpoints(ctx context.Context, st interface {
	MetaValue(ctx context.Context, key string) (string, bool, error)
}) ([]ModelEndpoints, error) {
	v, ok, err := st.MetaValue(ctx, EndpointsKey)
	if err != nil || !ok {
		return nil, err
	}
	var m map[string][]model.EndpointStats
	if err := json.Unmarshal([]byte(v), &m); err != nil {
		return nil, fmt.Errorf("pipeline: read %s: %w", EndpointsKey, err)
	}
	var out []ModelEndpoints
	for name, eps := range m {
		out = append(out, ModelEndpoints{Model: name, Endpoints: eps})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Model < out[j].Model })
	return out, nil
}
