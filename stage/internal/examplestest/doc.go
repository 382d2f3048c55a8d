// Package examplestest runs the reject, selfreward and judge example pipelines of examples/ end to end against a scripted server.
package examplestest
