// Package layout holds no code: its test checks the repository's import
// rules with `go list`, so the data keeps flowing one way (extract →
// transform → load) on shared packages below the stages.
package layout
