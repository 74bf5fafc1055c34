// Package archtest holds no code: its test checks that the import order documented in
// docs/ARCHITECTURE.md is the one `go list` reports for every package of the module, and that
// only autodiff imports gorgonia.
package archtest
