package tensor

// The microkernels are Go assembly written by an avo program in a nested
// module, so the main module neither depends on avo nor needs it to build.
//go:generate sh -c "cd internal/asmgen && go run . -out ../../kernels_amd64.s -stubs ../../kernels_amd64.go -pkg tensor"
