module github.com/synthloop/synthloop/bench/torch

go 1.26.8

require github.com/synthloop/synthloop v0.0.0

require golang.org/x/sys v0.50.0 // indirect

replace github.com/synthloop/synthloop => ../..
