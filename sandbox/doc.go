// Package sandbox holds the Spec of a sandbox and the supervisor that runs
// it.
//
// The Spec is pure data, built by the CLI from flags and checked by
// Validate; nothing in it is read from the environment by this package.
// The supervisor (Run) runs on the host as the invoking user: it prepares
// the state directory and the writable layer, starts the init in new
// namespaces (package userns), writes the ID maps (package idmap), relays
// the terminal and signals, and cleans up. Data flows one way:
// CLI → Spec → supervisor → packages.
package sandbox
