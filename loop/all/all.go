// Package all registers the loop's built-in generators, trainers and evaluators; import it for its side effects.
package all

import (
	_ "github.com/synthloop/synthloop/lab/loopplug"     // generators lab-*, trainer lab-train, evaluator lab-accuracy
	_ "github.com/synthloop/synthloop/loop/builtin"     // trainer builtin
	_ "github.com/synthloop/synthloop/loop/command"     // trainer command
	_ "github.com/synthloop/synthloop/loop/evaluate"    // evaluators verifier and judge
	_ "github.com/synthloop/synthloop/loop/openaift"    // trainer openai
	_ "github.com/synthloop/synthloop/loop/pipelinegen" // generator pipeline
)
