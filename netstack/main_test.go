package netstack

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"testing"

	"go.uber.org/goleak"
	"gvisor.dev/gvisor/pkg/refs"
)

// TestMain checks that the tests leave no goroutine behind and, unless
// benchmarks run (leak checking registers every buffer in a global map),
// that every PacketBuffer and buffer chunk taken during the tests was
// released: gVisor's leak checker panics on any still referenced.
func TestMain(m *testing.M) {
	flag.Parse()
	leakCheck := flag.Lookup("test.bench").Value.String() == ""
	if leakCheck {
		refs.SetLeakMode(refs.LeaksPanic)
	}
	code := m.Run()
	if code == 0 && leakCheck {
		refs.DoLeakCheck()
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// newFabric returns a fabric closed at the end of the test.
func newFabric(t testing.TB, f Filter) *Fabric {
	t.Helper()
	fab := NewFabric(f)
	t.Cleanup(func() { fab.Close() })
	return fab
}

// newInstance returns an instance named name with address addr, attached to
// fab if fab is not nil, and closed at the end of the test.
func newInstance(t testing.TB, fab *Fabric, name, addr string) *Instance {
	t.Helper()
	return newInstanceConfig(t, fab, Config{Name: name, Addr: netip.MustParseAddr(addr)})
}

func newInstanceConfig(t testing.TB, fab *Fabric, cfg Config) *Instance {
	t.Helper()
	inst, err := NewInstance(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inst.Close() })
	if fab != nil {
		if _, err := fab.Attach(inst.NIC(), inst.Addr(), nil); err != nil {
			t.Fatal(err)
		}
	}
	return inst
}
