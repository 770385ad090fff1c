// Package childfd hands descriptors to a re-executed rbox by name.
//
// The parent puts each file in a Table under a name; the Table places the
// files among the child's inherited descriptors and writes one environment
// variable that maps the names to their numbers ("_RBOX_FDS=sync:3,exe:4").
// The child asks for its descriptors by name. Neither side holds a
// descriptor number of its own, so passing one more file moves nothing
// (gVisor's runsc passes its descriptors the same way).
//
// It runs on whichever side its callers do: on the host for the sandbox's
// init before its clone (userns), the network watchdog (slirp) and a
// detached supervisor (sandbox); inside the namespaces for the init reading
// its table, and again when the init re-executes itself there.
package childfd
