package conversation

import "github.com/synthloop/synthloop/pipeline"

func init() {
	pipeline.Register(pipeline.StageType{
		Name: "conversation",
		Doc: "Multi-turn conversations with separate models for the two sides: user_model plays the user (a persona, " +
			"a topic or a document, the transcript so far) and model answers as the assistant. Inputs are the previous " +
			"stage's records, a seed file or inline topics; mode: document grounds the assistant on each record's " +
			"document, delimited as data. Each conversation draws its length in [min_turns, max_turns] exchanges, and " +
			"the user may end it earlier with the end token. Empty replies, truncated ones, role confusion (the user " +
			"answering as the assistant, either side writing the other's lines) and repeated or echoed messages " +
			"reject the conversation with the reason; records hold Messages (system, user, assistant) for the " +
			"sharegpt and openai exports.",
		Example: `- name: chats
  type: conversation
  with:
    model: assistant        # answers
    user_model: simulator   # plays the user; may name the same model
    # topics: ["Planning a week in Kyoto on a budget"]   # or seeds: FILE, or the previous stage
    min_turns: 2
    max_turns: 4            # exchanges: a user message and the reply
    # user_persona: "a nurse on night shifts, direct and busy"
    # system: "You are a helpful assistant."
    # mode: document        # ground on each record's document (document_field: auto)
    # end_token: "[END]"
    # open_with_seed: false # true: the topic itself is the first user message
`,
		Config: func() any { return DefaultConfig() },
		New:    pipeline.Typed("conversation", func(c *Config) (*Stage, error) { return New(c) }),
	})
}
