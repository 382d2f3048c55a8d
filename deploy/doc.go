// Package deploy holds the Kubernetes manifests and Slurm scripts of sharded runs, and the tests that check them offline; a module of its own, so the main module never needs the Kubernetes API types.
package deploy
