// Package oci is the host side of rbox's OCI runtime front end
// (cmd/rbox-runtime): it reads a bundle's config.json, checks it, and
// turns it into a Bundle, a runtime-neutral description of what the
// bundle asks for that the sandbox's plan step takes; it keeps the
// runtime's per-container records (the OCI state) under the state root,
// and it says what rbox honours (Features).
//
// Everything here runs on the host, before or after the namespaces: no
// code of this package runs inside a container. Parse, Validate and
// Translate are pure (Translate compiles the seccomp filter, a pure
// step); Load and the container records touch the file system.
//
// The config is the contract: where config.json leaves a field out, the
// Bundle leaves it out too, and no default of `rbox exec` is added. The
// engine (podman, containerd, CRI-O) has computed its own.
//
// Errors name the JSON path of the field they are about
// ("process.args: empty", "linux.namespaces[2].type: unknown namespace
// type \"foo\""), the way cmd/rbox names flags.
package oci
