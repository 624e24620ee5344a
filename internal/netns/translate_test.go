package netns

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/vpclab/vpclab/topology"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestTable checks the iptables translation of examples whose rules
// exercise the order of docs/semantics.md §2 (priorities, drop before
// accept on ties, several groups on a NIC, intra-group accept and drop,
// enterprise defaults, the default group) against golden files.
func TestTable(t *testing.T) {
	for _, name := range []string{"priorities", "enterprise", "inner-drop", "group-isolation", "default-group-rules", "group-authorization"} {
		t.Run(name, func(t *testing.T) {
			topo, err := topology.LoadFile("../../examples/" + name + ".yaml")
			if err != nil {
				t.Fatal(err)
			}
			pol := NewPolicy(topo)
			var b strings.Builder
			for _, in := range topo.Instances {
				b.WriteString("# " + in.Name + " " + in.IP.String() + "\n")
				b.WriteString(pol.Table(in))
			}
			golden := filepath.Join("testdata", name+".iptables")
			if *update {
				if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if b.String() != string(want) {
				t.Errorf("translation differs from %s (rerun with -update after checking):\n%s", golden, b.String())
			}
		})
	}
}

func TestPorts(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"80/80", "80"}, {"80/443", "80:443"}, {"1/65535", ""}, {"-1/-1", ""}, {"", ""},
	} {
		if got := ports(c.in); got != c.want {
			t.Errorf("ports(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestSweep checks that a namespace left by a process that is gone is
// removed, and that one of a live process is not.
func TestSweep(t *testing.T) {
	needNamespaces(t)
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := Prefix + strconv.Itoa(cmd.Process.Pid) + "-1-br"
	alive := Prefix + strconv.Itoa(os.Getppid()) + "-1-br"
	for _, n := range []string{dead, alive} {
		if err := run(nil, "ip", "netns", "add", n); err != nil {
			t.Fatal(err)
		}
	}
	defer run(nil, "ip", "netns", "del", alive)
	if err := Sweep(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/run/netns/" + dead); err == nil {
		run(nil, "ip", "netns", "del", dead)
		t.Errorf("%s survived the sweep", dead)
	}
	if _, err := os.Stat("/run/netns/" + alive); err != nil {
		t.Errorf("%s of a live process was swept", alive)
	}
}

func TestProbeable(t *testing.T) {
	for _, c := range []struct {
		file string
		want int
	}{{"eip", 8}, {"snat", 7}, {"dnat", 4}, {"priorities", 5}, {"stateful-udp", 4}} {
		topo, err := topology.LoadFile("../../examples/" + c.file + ".yaml")
		if err != nil {
			t.Fatal(err)
		}
		if got := Probeable(topo); got != c.want {
			t.Errorf("%s: Probeable = %d, want %d", c.file, got, c.want)
		}
	}
}
