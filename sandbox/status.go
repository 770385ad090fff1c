package sandbox

import "time"

// Status is what the supervisor learns about a run's end that its exit
// status cannot say; rbox exec --status-json writes it for machines. Run
// fills it when Options.Status is set.
type Status struct {
	Name string `json:"name,omitempty"`
	ID   string `json:"id,omitempty"`
	// WorkloadStarted is when the init reported the workload running;
	// zero if it never ran.
	WorkloadStarted time.Time `json:"-"`
	// WorkloadCode is the status the init reported, before --timeout
	// replaced it with 124: 128+N when signal N ended the workload.
	WorkloadCode int  `json:"-"`
	TimedOut     bool `json:"-"`
	// OOMKilled is nil without a cgroup of the sandbox's own; else whether
	// the kernel's OOM killer ended a process in it.
	OOMKilled *bool `json:"-"`
	// Done, when set, is called with the exit status as a detached
	// sandbox ends, before rbox wait and rbox ps can see that it has:
	// what it writes is there when they return.
	Done func(code int) `json:"-"`
}
