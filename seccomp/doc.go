// Package seccomp builds and installs seccomp-BPF filters in pure Go, so
// rbox stays a static binary without libseccomp.
//
// It owns: the Profile type (the runtime-spec subset rbox supports) and its
// loader LoadOCI, rbox's Default profile, the compiler from a Profile to a
// classic-BPF program for one architecture (amd64, arm64), an interpreter
// of such programs (Filter.Allows), and InstallOnThread (for tests and
// tools: the init installs the filter with a raw syscall in its fork
// child, userns/forkexec.go).
//
// LoadOCI, Default and Compile are pure and run on either side: the
// supervisor (host side) loads and compiles once, so that a bad profile is
// a usage error before any namespace exists; the compiled Filter travels
// to the init in its Config (MarshalJSON: the program's bytes), and the
// init's fork child installs it as its last step before execve: filters
// are per thread, inherited across fork and execve, and cannot be
// removed. Allows lets the supervisor refuse a filter that denies that
// execve before anything starts.
//
// Syscall numbers come from zsyscalls.go, generated from
// golang.org/x/sys/unix (itself generated from the kernel's headers) by
// `go generate`; names of every Linux architecture are known, so a profile
// written for several architectures loads everywhere.
package seccomp

//go:generate go run mksyscalls.go
