// Package sandbox holds the Spec of a sandbox, its Plan, and the
// supervisor that runs it, on the host side.
//
// The Spec is pure data, built by a front end (the CLI from flags) and
// checked alone by Validate, whose errors are *FieldError naming Spec
// fields. NewPlan resolves it against the host once: the root, the
// capability set, the compiled seccomp filter, the network mode, the ID
// map, and the host paths by device and inode. The supervisor (Run) takes
// the Plan: it makes the sandbox's state (package state) and writable
// layer, starts the init in new namespaces (package userns), writes the
// ID maps (package idmap), relays the terminal and signals, and undoes
// all of it through one cleanup stack. A detached supervisor is the
// hidden entry rbox __supervise, handed the Plan over a descriptor
// (Detach, ReadJob). Data flows one way:
// front end → Spec → Plan → supervisor → packages.
package sandbox
