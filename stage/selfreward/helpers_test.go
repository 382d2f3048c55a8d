package selfreward

import "github.com/synthloop/synthloop/judge"

func judgeConfig(kind string) judge.Config { return judge.Config{Rubric: judge.Rubric{Kind: kind}} }
