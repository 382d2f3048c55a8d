package review

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"strings"

	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/store"
)

// LabelStudioConfig is the labeling interface for the tasks ExportTasks
// writes: paste it into a Label Studio project's labeling setup. Its control
// names (verdict, reason, edit) are what ImportAnnotations reads back.
var LabelStudioConfig = `<View>
  <Header value="Instruction"/>
  <Text name="instruction" value="$instruction"/>
  <Text name="input" value="$input"/>
  <Header value="Output"/>
  <Text name="output" value="$output"/>
  <Choices name="verdict" toName="output" choice="single" required="true">
    <Choice value="accept"/>
    <Choice value="reject"/>
  </Choices>
  <Choices name="reason" toName="output" choice="single">
` + reasonChoices() + `  </Choices>
  <TextArea name="edit" toName="output" placeholder="corrected output (leave empty to keep it)" maxSubmissions="1"/>
</View>
`

// RejectReasons are the reason tags offered for a reject, in the review
// app and in the Label Studio interface.
var RejectReasons = []string{"hallucination", "wrong answer", "instruction not followed", "unsafe", "low quality", "other"}

func reasonChoices() string {
	var b strings.Builder
	for _, r := range RejectReasons {
		fmt.Fprintf(&b, "    <Choice value=%q/>\n", r)
	}
	return b.String()
}

// lsTask is a Label Studio task as its JSON export writes it, with the
// fields this package reads or writes.
type lsTask struct {
	ID          int64          `json:"id,omitempty"`
	Data        lsData         `json:"data"`
	Annotations []lsAnnotation `json:"annotations,omitempty"`
}

type lsData struct {
	RecordID    string `json:"record_id"`
	Instruction string `json:"instruction"`
	Input       string `json:"input"`
	Output      string `json:"output"`
}

type lsAnnotation struct {
	Result      []lsResult      `json:"result"`
	WasCanceled bool            `json:"was_cancelled"`
	CompletedBy json.RawMessage `json:"completed_by"` // a user id, or an object with an email
}

type lsResult struct {
	FromName string `json:"from_name"`
	Type     string `json:"type"`
	Value    struct {
		Choices []string `json:"choices"`
		Text    []string `json:"text"`
	} `json:"value"`
}

// Tasked is what ExportTasks reads.
type Tasked interface {
	Sample(ctx context.Context, stage string) ([]string, error)
	Record(ctx context.Context, id string) (*record.Record, error)
	Records(ctx context.Context, stage string, status record.Status) iter.Seq2[*record.Record, error]
}

// ExportTasks writes the stage's review sample, or its kept records when no
// sample was drawn, as a Label Studio task list (JSON), and returns how many.
func ExportTasks(ctx context.Context, run Tasked, stage string, w io.Writer) (int, error) {
	var tasks []lsTask
	add := func(r *record.Record) {
		tasks = append(tasks, lsTask{Data: lsData{RecordID: r.ID, Instruction: r.Instruction, Input: r.Input, Output: r.Output}})
	}
	ids, err := run.Sample(ctx, stage)
	if err != nil {
		return 0, err
	}
	if len(ids) > 0 {
		for _, id := range ids {
			r, err := run.Record(ctx, id)
			if err != nil {
				return 0, err
			}
			add(r)
		}
	} else {
		for r, err := range run.Records(ctx, stage, record.Kept) {
			if err != nil {
				return 0, err
			}
			add(r)
		}
	}
	if tasks == nil {
		tasks = []lsTask{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	if err := enc.Encode(tasks); err != nil {
		return 0, fmt.Errorf("review: label studio tasks: %w", err)
	}
	return len(tasks), nil
}

// Decision is one review ImportAnnotations found, before it is written.
type Decision = store.Review

// ParseAnnotations reads a Label Studio JSON export of tasks made by
// ExportTasks and returns the decisions in it: per annotation that was not
// cancelled, an accept or a reject (with its reason, "other" when none was
// picked), or an edit when the edit box holds a text other than the output.
// The reviewer is "labelstudio:" and the annotator's email or user id.
func ParseAnnotations(r io.Reader) ([]Decision, error) {
	var tasks []lsTask
	if err := json.NewDecoder(r).Decode(&tasks); err != nil {
		return nil, fmt.Errorf("review: label studio export: %w", err)
	}
	var out []Decision
	for i, t := range tasks {
		if t.Data.RecordID == "" {
			return nil, fmt.Errorf("review: label studio export: task %d (id %d) has no data.record_id: not a task synthloop exported", i, t.ID)
		}
		for _, a := range t.Annotations {
			if a.WasCanceled {
				continue
			}
			d := Decision{RecordID: t.Data.RecordID, Reviewer: "labelstudio:" + annotator(a.CompletedBy)}
			for _, res := range a.Result {
				switch {
				case res.FromName == "verdict" && len(res.Value.Choices) > 0:
					d.Kind = store.ReviewKind(res.Value.Choices[0])
				case res.FromName == "reason" && len(res.Value.Choices) > 0:
					d.Reason = res.Value.Choices[0]
				case res.FromName == "edit" && len(res.Value.Text) > 0:
					if text := strings.Join(res.Value.Text, "\n"); strings.TrimSpace(text) != "" && text != t.Data.Output {
						d.Edits = map[string]string{"output": text}
					}
				}
			}
			switch d.Kind {
			case "":
				if d.Edits == nil {
					continue // an annotation without a verdict or an edit decides nothing
				}
				d.Kind = store.Edit
			case store.Accept:
				if d.Edits != nil {
					d.Kind = store.Edit // accepted once corrected
				}
			case store.Reject:
				d.Edits = nil
				if d.Reason == "" {
					d.Reason = "other"
				}
			default:
				return nil, fmt.Errorf("review: label studio export: task %d: verdict %q is not accept or reject", i, d.Kind)
			}
			out = append(out, d)
		}
	}
	return out, nil
}

func annotator(raw json.RawMessage) string {
	var id int64
	if json.Unmarshal(raw, &id) == nil {
		return fmt.Sprint(id)
	}
	var u struct {
		Email string `json:"email"`
		ID    int64  `json:"id"`
	}
	if json.Unmarshal(raw, &u) == nil {
		if u.Email != "" {
			return u.Email
		}
		if u.ID != 0 {
			return fmt.Sprint(u.ID)
		}
	}
	return "unknown"
}

// Writer is where imported decisions go; *store.Store is one.
type Writer interface {
	AddReview(ctx context.Context, rv store.Review) (store.Review, error)
}

// ImportAnnotations writes the decisions of a Label Studio export into the
// review log, each committed on its own, and returns how many it wrote.
// Importing the same export twice logs the decisions twice; the standing
// verdicts stay the same.
func ImportAnnotations(ctx context.Context, st Writer, r io.Reader) (int, error) {
	ds, err := ParseAnnotations(r)
	if err != nil {
		return 0, err
	}
	for i, d := range ds {
		if _, err := st.AddReview(ctx, d); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return i, fmt.Errorf("review: label studio export names a record this run does not hold: %w", err)
			}
			return i, err
		}
	}
	return len(ds), nil
}
