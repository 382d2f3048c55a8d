// Package examples embeds the example pipeline and loop files of this directory, so that `synthloop demo` runs the very file users read and tests can load every example from the library alone.
package examples

import "embed"

// FS holds every example file at the top of this directory.
//
//go:embed *.yaml
var FS embed.FS

// Demo is the loop `synthloop demo` runs.
const Demo = "loop-lab-selfimprove.yaml"

// DemoReasoning is the loop `synthloop demo reasoning` runs.
const DemoReasoning = "loop-lab-reasoning.yaml"
