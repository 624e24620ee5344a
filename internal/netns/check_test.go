package netns

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/vpclab/vpclab/topology"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func needNamespaces(t *testing.T) {
	t.Helper()
	if err := Available(); err != nil {
		t.Skip(err.Error() + "; skipping (run as root with iproute2 and iptables)")
	}
}

// TestKernelAgrees builds every example both ways and checks the kernel
// answers each expectation as vpclab does.
func TestKernelAgrees(t *testing.T) {
	needNamespaces(t)
	files, _ := filepath.Glob("../../examples/*.yaml")
	if len(files) == 0 {
		t.Fatal("no examples")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			topo, err := topology.LoadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			// Every expectation is probed, the internet's too (EIP, SNAT,
			// DNAT, the platform's port 25), but a VPN peer's.
			if skipped := checkAgrees(t, topo); skipped > 0 && len(topo.VPNGateways) == 0 {
				t.Errorf("%d expectations not probed", skipped)
			}
		})
	}
}

// checkAgrees checks that the kernel answers every expectation of topo
// that it probes as vpclab does, and returns how many it did not probe.
func checkAgrees(t *testing.T, topo *topology.Topology) (skippedCases int) {
	t.Helper()
	cases, skipped, err := Check(context.Background(), topo, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range skipped {
		t.Log("not translated: " + s)
	}
	for _, c := range cases {
		switch {
		case c.Skip != "":
			t.Logf("%s: skipped: %s", c.Label, c.Skip)
			skippedCases++
		case !c.Agree:
			t.Errorf("%s: vpclab %s (%s), kernel %s (%s), expected %s", c.Label, c.Ours, c.OursDetail, c.Kernel, c.KernelDetail, c.Expected)
		}
	}
	return skippedCases
}

// TestKernelAgreesGenerated runs random scenarios both ways.
func TestKernelAgreesGenerated(t *testing.T) {
	needNamespaces(t)
	seeds, size := uint64(6), 8
	if n, err := strconv.Atoi(os.Getenv("VPCLAB_NETNS_SEEDS")); err == nil {
		seeds, size = uint64(n), 16 // a longer hunt: VPCLAB_NETNS_SEEDS=50
	}
	for seed := range seeds {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			data := Scenario(seed, size, 5*size)
			topo, err := topology.Load(fmt.Sprintf("generated-%d.yaml", seed), data)
			if err != nil {
				t.Fatalf("%v\n%s", err, data)
			}
			checkAgrees(t, topo)
		})
	}
}

// TestPerfQuick runs the namespace baseline at a small size with a server
// table that admits the benchmark's port from the client, then checks that
// the tables are in force: with the port not admitted, no connection is made.
func TestPerfQuick(t *testing.T) {
	needNamespaces(t)
	ctx := context.Background()
	per, bytes, err := Boot(ctx, 10)
	if err != nil || per <= 0 {
		t.Fatalf("Boot: %v %v", per, err)
	}
	t.Logf("boot %v and %d KiB of kernel memory per namespace", per, bytes>>10)
	const head = "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n" +
		"-A INPUT -i lo -j ACCEPT\n-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n"
	open := PairTables{Client: head + "COMMIT\n", Server: head + fmt.Sprintf("-A INPUT -p tcp -s 10.0.1.1 --dport %d -j ACCEPT\nCOMMIT\n", BenchPort)}
	rate, err := ConnRate(ctx, open, 300*time.Millisecond, 2)
	if err != nil || rate <= 0 {
		t.Fatalf("ConnRate: %v %v", rate, err)
	}
	bps, err := Bulk(ctx, open, 300*time.Millisecond)
	if err != nil || bps <= 0 {
		t.Fatalf("Bulk: %v %v", bps, err)
	}
	t.Logf("%.0f conns/s, %.2f Gbit/s", rate, bps/1e9)
	closed := PairTables{Client: open.Client, Server: head + "COMMIT\n"}
	if rate, err := ConnRate(ctx, closed, 300*time.Millisecond, 1); err == nil {
		t.Errorf("ConnRate through a server table that admits nothing: %.0f conns/s, want an error", rate)
	}
}
