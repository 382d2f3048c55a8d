package conversation

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/model/modeltest"
)

// The scripted user simulator and assistant of these tests. Marks in a
// topic or document script failures:
//
//	user side:      [quit-at-N] ends at message N; [quit-now] ends at once;
//	                [confuse] answers as the assistant at message 2;
//	                [both-sides] writes an Assistant: line at message 1;
//	                [repeat] asks the same at every message; [empty-user] says nothing
//	assistant side: [asst-empty] says nothing at turn 2; [asst-user] writes a User: line;
//	                [asst-echo] repeats the user's message; [asst-long] is cut off
var (
	topicRe = regexp.MustCompile(`(?s)<topic>\n(.*?)\n</topic>`)
	docRe   = regexp.MustCompile(`(?s)<document>\n(.*?)\n</document>`)
	turnRe  = regexp.MustCompile(`This is message (\d+) of at most (\d+)\.|最大(\d+)通のうち(\d+)通目`)
	quitRe  = regexp.MustCompile(`\[quit-at-(\d+)\]`)
)

// isUserPrompt tells the user simulator's prompt from a chat.
func isUserPrompt(msgs []model.Message) bool {
	return len(msgs) == 1 && (strings.HasPrefix(msgs[0].Content, "You are role-playing the user") ||
		strings.HasPrefix(msgs[0].Content, "あなたはAIアシスタントとの会話でユーザーの役を演じます"))
}

func reply(text, finish string) modeltest.Reply {
	return modeltest.Reply{Choices: []modeltest.Choice{{Text: text, FinishReason: finish}}}
}

// userSide plays the user. Anything but its prompt gets a reply that no
// check passes, so a request sent to the wrong model shows.
func userSide(req *modeltest.Request) modeltest.Reply {
	if !isUserPrompt(req.Messages) {
		return reply("WRONG MODEL: the user simulator got a chat", "")
	}
	p := req.Messages[0].Content
	subject := ""
	if m := topicRe.FindStringSubmatch(p); m != nil {
		subject = m[1]
	}
	if m := docRe.FindStringSubmatch(p); m != nil {
		subject += " " + m[1]
	}
	n := 1
	if m := turnRe.FindStringSubmatch(p); m != nil {
		n, _ = strconv.Atoi(m[1] + m[4])
	}
	short := []rune(strings.TrimSpace(subject))
	if len(short) > 30 {
		short = short[:30]
	}
	switch {
	case strings.Contains(subject, "[quit-now]"):
		return reply("[END]", "")
	case quitRe.MatchString(subject) && strconv.Itoa(n) == quitRe.FindStringSubmatch(subject)[1]:
		return reply("Thanks, that is all I needed. [END]", "")
	case strings.Contains(subject, "[confuse]") && n == 2:
		return reply("Great question! I'd be happy to help: the answer is 42.", "")
	case strings.Contains(subject, "[both-sides]"):
		return reply("How long do I boil an egg?\nAssistant: About seven minutes.", "")
	case strings.Contains(subject, "[repeat]"):
		return reply("What should I do first?", "")
	case strings.Contains(subject, "[empty-user]"):
		return reply("  ", "")
	case n == 1:
		return reply(fmt.Sprintf("User: I need help with %q. Where do I start?", string(short)), "")
	}
	return reply(followUps[(n-2)%len(followUps)], "")
}

// followUps and answers differ from each other, so that only the scripted
// repeats trip the repeat check.
var followUps = []string{
	"Could you break the first part down for a beginner like me?",
	"What mistakes do people usually make with this?",
	"How much time should I plan for all of it?",
	"Is there a cheaper way to get the same result?",
	"Which tools would you recommend to get started?",
}

var answers = []string{
	"Start with a short list of what you need and check what you already have at home.",
	"Next, set aside an hour each evening and track your progress in a notebook.",
	"After that, ask a friend to review the result, then adjust the plan together.",
	"Finally, write down what worked, so that you can repeat it next time.",
	"One more idea: keep a small budget for surprises along the way.",
}

// assistantSide answers a chat. The user simulator's prompt gets a reply
// no check passes.
func assistantSide(req *modeltest.Request) modeltest.Reply {
	if isUserPrompt(req.Messages) {
		return reply("WRONG MODEL: the assistant got the user simulator's prompt", "")
	}
	var all strings.Builder
	for _, m := range req.Messages {
		all.WriteString(m.Content + "\n")
	}
	last := req.LastUser()
	turn := 0
	for _, m := range req.Messages {
		if m.Role == "user" {
			turn++
		}
	}
	switch s := all.String(); {
	case strings.Contains(s, "[asst-empty]") && turn == 2:
		return reply("", "")
	case strings.Contains(s, "[asst-user]"):
		return reply("Here is a plan.\n\nUser: thanks, and the next step?", "")
	case strings.Contains(s, "[asst-echo]"):
		return reply(last, "")
	case strings.Contains(s, "[asst-long]"):
		return reply("First, you will want to", model.FinishLength)
	}
	return reply("Assistant: "+answers[(turn-1)%len(answers)], "")
}

// both is one server playing both sides, routing by the prompt.
func both(req *modeltest.Request) modeltest.Reply {
	if isUserPrompt(req.Messages) {
		return userSide(req)
	}
	return assistantSide(req)
}
