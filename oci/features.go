package oci

import (
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"

	"github.com/rbox-sandbox/rbox/caps"
)

// Features is what `rbox-runtime features` prints (version goes in an
// annotation, as runc puts its own): the runtime-spec
// features document of what rbox reads. It lists what Validate accepts;
// docs/OCI.md "Spec fields" says which of those are done on which host.
func Features(version string) features.Features {
	yes, no := true, false
	var capNames []string
	for n := 0; n <= caps.Last; n++ {
		if name, ok := caps.Name(n); ok {
			capNames = append(capNames, name)
		}
	}
	var ns []string
	for t := range namespaceTypes {
		ns = append(ns, string(t))
	}
	slices.Sort(ns)
	opts := MountOptions()
	slices.Sort(opts)
	return features.Features{
		OCIVersionMin: MinVersion,
		OCIVersionMax: MaxVersion,
		Hooks:         []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"},
		MountOptions:  opts,
		Linux: &features.Linux{
			Namespaces:   ns,
			Capabilities: capNames,
			Cgroup:       &features.Cgroup{V1: &yes, V2: &yes, Systemd: &yes, SystemdUser: &yes, Rdma: &no},
			Seccomp: &features.Seccomp{
				Enabled: &yes,
				Actions: []string{
					string(specs.ActAllow), string(specs.ActErrno), string(specs.ActKill), string(specs.ActKillProcess),
					string(specs.ActKillThread), string(specs.ActLog), string(specs.ActTrace), string(specs.ActTrap),
				},
				Operators: []string{
					string(specs.OpEqualTo), string(specs.OpGreaterEqual), string(specs.OpGreaterThan), string(specs.OpLessEqual),
					string(specs.OpLessThan), string(specs.OpMaskedEqual), string(specs.OpNotEqual),
				},
				Archs:          []string{string(specs.ArchX86_64), string(specs.ArchAARCH64)},
				KnownFlags:     []string{string(specs.LinuxSeccompFlagLog), string(specs.LinuxSeccompFlagSpecAllow), "SECCOMP_FILTER_FLAG_TSYNC", string(specs.LinuxSeccompFlagWaitKillableRecv)},
				SupportedFlags: []string{string(specs.LinuxSeccompFlagLog), string(specs.LinuxSeccompFlagSpecAllow)},
			},
			Apparmor:        &features.Apparmor{Enabled: &no},
			Selinux:         &features.Selinux{Enabled: &no},
			IntelRdt:        &features.IntelRdt{Enabled: &no},
			MountExtensions: &features.MountExtensions{IDMap: &features.IDMap{Enabled: &no}},
			NetDevices:      &features.NetDevices{Enabled: &no},
		},
		Annotations: map[string]string{"org.rbox-sandbox.rbox-runtime.version": version},
	}
}
