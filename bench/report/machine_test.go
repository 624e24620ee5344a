package report

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCPUModel(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, cpuinfo, want string }{
		{"x86", "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9B45\nflags\t: fpu\n\nprocessor\t: 1\nmodel name\t: AMD EPYC 9B45\n", "AMD EPYC 9B45"},
		{"arm", "processor\t: 0\nBogoMIPS\t: 50.00\nCPU part\t: 0xd0c\n\nHardware\t: BCM2835\nModel\t\t: Raspberry Pi 4 Model B\n", "BCM2835"},
		{"nothing", "processor\t: 0\n", "unknown"},
	} {
		p := filepath.Join(dir, tc.name)
		os.WriteFile(p, []byte(tc.cpuinfo), 0o644)
		if got := cpuModel(p); got != tc.want {
			t.Errorf("%s: cpuModel = %q, want %q", tc.name, got, tc.want)
		}
	}
	if got := cpuModel(filepath.Join(dir, "missing")); got != "unknown" {
		t.Errorf("missing file: %q", got)
	}
}

func TestDetectMachine(t *testing.T) {
	m := DetectMachine()
	if m.Cores < 1 || m.GOMAXPROCS < 1 || m.GHz <= 0 || m.Go == "" || m.OS == "" || m.Kernel == "" || m.CPU == "" {
		t.Errorf("machine %+v", m)
	}
}
