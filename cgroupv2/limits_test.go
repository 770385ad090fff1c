package cgroupv2

import (
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestLimitsFiles(t *testing.T) {
	half := CPUMax{Quota: 50000, Period: CPUPeriod}
	tests := []struct {
		name  string
		l     Limits
		files []File
		props []property
		ctls  []string
	}{
		{name: "none", l: Limits{}},
		{
			name:  "memory: docker's default swap equals memory",
			l:     Limits{Memory: 64 << 20},
			files: []File{{"memory.max", "67108864"}, {"memory.swap.max", "67108864"}},
			props: []property{{"MemoryMax", uint64(64 << 20)}, {"MemorySwapMax", uint64(64 << 20)}},
			ctls:  []string{"memory"},
		},
		{
			name:  "memory-swap equal to memory: no swap",
			l:     Limits{Memory: 64 << 20, MemorySwap: 64 << 20},
			files: []File{{"memory.max", "67108864"}, {"memory.swap.max", "0"}},
			props: []property{{"MemoryMax", uint64(64 << 20)}, {"MemorySwapMax", uint64(0)}},
			ctls:  []string{"memory"},
		},
		{
			name:  "memory-swap total",
			l:     Limits{Memory: 64 << 20, MemorySwap: 96 << 20},
			files: []File{{"memory.max", "67108864"}, {"memory.swap.max", "33554432"}},
			props: []property{{"MemoryMax", uint64(64 << 20)}, {"MemorySwapMax", uint64(32 << 20)}},
			ctls:  []string{"memory"},
		},
		{
			name:  "unlimited swap",
			l:     Limits{Memory: 64 << 20, MemorySwap: Unlimited},
			files: []File{{"memory.max", "67108864"}, {"memory.swap.max", "max"}},
			props: []property{{"MemoryMax", uint64(64 << 20)}, {"MemorySwapMax", uint64(math.MaxUint64)}},
			ctls:  []string{"memory"},
		},
		{
			name:  "memory max",
			l:     Limits{Memory: Unlimited},
			files: []File{{"memory.max", "max"}},
			props: []property{{"MemoryMax", uint64(math.MaxUint64)}},
			ctls:  []string{"memory"},
		},
		{
			name:  "all",
			l:     Limits{Memory: 1 << 30, MemorySwap: 1 << 30, CPU: half, Pids: 20},
			files: []File{{"memory.max", "1073741824"}, {"memory.swap.max", "0"}, {"cpu.max", "50000 100000"}, {"pids.max", "20"}},
			props: []property{{"MemoryMax", uint64(1 << 30)}, {"MemorySwapMax", uint64(0)}, {"CPUQuotaPerSecUSec", uint64(500000)}},
			ctls:  []string{"cpu", "memory", "pids"},
		},
		{
			name:  "pids unlimited",
			l:     Limits{Pids: Unlimited},
			files: []File{{"pids.max", "max"}},
			ctls:  []string{"pids"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.l.validate(2); err != nil {
				t.Fatalf("validate: %v", err)
			}
			if got := tt.l.Files(); !reflect.DeepEqual(got, tt.files) {
				t.Errorf("Files() = %v, want %v", got, tt.files)
			}
			var parent []File
			for _, f := range tt.files {
				if f.Name != "pids.max" {
					parent = append(parent, f)
				}
			}
			if got := tt.l.parentFiles(); !reflect.DeepEqual(got, parent) {
				t.Errorf("parentFiles() = %v, want %v", got, parent)
			}
			if got := tt.l.systemdProperties(); !reflect.DeepEqual(got, tt.props) {
				t.Errorf("systemdProperties() = %v, want %v", got, tt.props)
			}
			if got := tt.l.Controllers(); !reflect.DeepEqual(got, tt.ctls) {
				t.Errorf("Controllers() = %v, want %v", got, tt.ctls)
			}
			if tt.l.IsZero() != (tt.files == nil) {
				t.Errorf("IsZero() = %v", tt.l.IsZero())
			}
		})
	}
}

// TestLimitsValidate starts from one good value and breaks one field per case.
func TestLimitsValidate(t *testing.T) {
	good := Limits{Memory: 64 << 20, MemorySwap: 128 << 20, CPU: CPUMax{Quota: 150000, Period: CPUPeriod}, Pids: 100}
	if err := good.validate(2); err != nil {
		t.Fatalf("good limits: %v", err)
	}
	tests := []struct {
		name   string
		break_ func(*Limits)
		want   string
	}{
		{"memory too small", func(l *Limits) { l.Memory = 4 << 20; l.MemorySwap = 0 }, "--memory 4m is too small: the minimum is 6m"},
		{"swap below memory", func(l *Limits) { l.MemorySwap = 32 << 20 }, "--memory-swap 32m is less than --memory 64m"},
		{"swap without memory", func(l *Limits) { l.Memory = 0 }, "--memory-swap needs --memory"},
		{"more cpus than the machine", func(l *Limits) { l.CPU.Quota = 300000 }, "--cpus 3 is more than the 2 CPUs available: use a value from 0.01 to 2"},
		{"cpu quota too small", func(l *Limits) { l.CPU.Quota = 10 }, "too small"},
		{"negative pids", func(l *Limits) { l.Pids = -5 }, "use -1 for no limit"},
	}
	for _, tt := range tests {
		l := good
		tt.break_(&l)
		err := l.validate(2)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: validate = %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestNotDelegatedError(t *testing.T) {
	err := notDelegatedError("/sys/fs/cgroup/a", []string{"cpu", "memory", "pids"}, []string{"memory", "pids"})
	want := `cgroup limits need the "cpu" controller, which is not delegated to "/sys/fs/cgroup/a" (it has "memory pids")` + "\n" +
		`hint: as root, write "[Service]" and "Delegate=cpu cpuset io memory pids" to /etc/systemd/system/user@.service.d/delegate.conf, run 'systemctl daemon-reload', and log in again`
	if err.Error() != want {
		t.Errorf("got  %s\nwant %s", err, want)
	}
	err = notDelegatedError("/x", []string{"cpu", "pids"}, nil)
	if !strings.HasPrefix(err.Error(), `cgroup limits need the "cpu", "pids" controllers, which are not delegated`) {
		t.Errorf("two missing: %s", err)
	}
}

func TestUnitNames(t *testing.T) {
	scope, slice := unitNames("ab-12/x")
	if scope != `rbox-ab\x2d12-x.scope` || slice != `app-rbox-ab\x2d12-x.slice` {
		t.Errorf("unitNames = %q, %q", scope, slice)
	}
}
