// Package all registers every stage type, model provider, loop plugin and lab plugin; import it for its side effects.
package all

// One package registers everything so a program that loads pipeline or loop
// files needs one blank import, and a stage or plugin added later reaches it
// without a change. Nothing in the module but cmd imports this package, so
// registration never runs back up the layering (loop does not import lab).
import (
	// Stage types (pipeline.Register).
	_ "github.com/synthloop/synthloop/stage/codet"
	_ "github.com/synthloop/synthloop/stage/conversation" // conversation
	_ "github.com/synthloop/synthloop/stage/dedup"        // dedup
	_ "github.com/synthloop/synthloop/stage/derive"       // derive
	_ "github.com/synthloop/synthloop/stage/docqa"        // docqa
	_ "github.com/synthloop/synthloop/stage/evol"         // evol
	_ "github.com/synthloop/synthloop/stage/faq"          // faq
	_ "github.com/synthloop/synthloop/stage/generate"     // generate
	_ "github.com/synthloop/synthloop/stage/judge"        // judge
	_ "github.com/synthloop/synthloop/stage/load"         // load
	_ "github.com/synthloop/synthloop/stage/preference"
	_ "github.com/synthloop/synthloop/stage/problems"
	_ "github.com/synthloop/synthloop/stage/reasoning"    // reasoning
	_ "github.com/synthloop/synthloop/stage/reject"       // reject
	_ "github.com/synthloop/synthloop/stage/sample"       // sample
	_ "github.com/synthloop/synthloop/stage/selfinstruct" // selfinstruct, selfinstruct-instances
	_ "github.com/synthloop/synthloop/stage/selfreward"   // selfreward
	_ "github.com/synthloop/synthloop/stage/tools"        // tools

	// Model providers (model.RegisterProvider).
	_ "github.com/synthloop/synthloop/model/anthropic" // anthropic
	_ "github.com/synthloop/synthloop/model/local"     // local/DIR: built-in models in-process
	_ "github.com/synthloop/synthloop/model/openai"    // openai, ollama, vllm and other OpenAI-compatible servers

	// Loop plugins (loop.RegisterGenerator, RegisterTrainer, RegisterEvaluator).
	_ "github.com/synthloop/synthloop/loop/builtin"     // trainer builtin
	_ "github.com/synthloop/synthloop/loop/command"     // trainer command
	_ "github.com/synthloop/synthloop/loop/evaluate"    // evaluators verifier and judge
	_ "github.com/synthloop/synthloop/loop/openaift"    // trainer openai
	_ "github.com/synthloop/synthloop/loop/pipelinegen" // generator pipeline

	// Lab plugins: the in-process lab as loop plugins.
	_ "github.com/synthloop/synthloop/lab/loopplug" // generators lab-*, trainer lab-train, evaluator lab-accuracy
)
