package record

// TextFields are the record's own text fields, which templates, expressions
// and sampled columns address by name; any other name is a meta field.
var TextFields = []string{"instruction", "input", "output", "chosen", "rejected"}

// SetText sets the text field name to s and reports whether name is one
// (see TextFields); for any other name it changes nothing.
func (r *Record) SetText(name, s string) bool {
	switch name {
	case "instruction":
		r.Instruction = s
	case "input":
		r.Input = s
	case "output":
		r.Output = s
	case "chosen":
		r.Chosen = s
	case "rejected":
		r.Rejected = s
	default:
		return false
	}
	return true
}

// Fields is what templates and expressions see of r: its meta fields, with
// its id and non-empty text fields in place of meta fields of the same name
// (an empty text field hides a meta field of its name too).
func (r *Record) Fields() map[string]any {
	d := make(map[string]any, len(r.Meta)+len(TextFields)+1)
	for k, v := range r.Meta {
		d[k] = v
	}
	for _, f := range [...]struct{ k, v string }{{"id", r.ID}, {"instruction", r.Instruction}, {"input", r.Input},
		{"output", r.Output}, {"chosen", r.Chosen}, {"rejected", r.Rejected}} {
		if f.v != "" {
			d[f.k] = f.v
		} else {
			delete(d, f.k)
		}
	}
	return d
}
