package bench

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestFabricQuick(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	res, err := runFabric(context.Background(), Options{Quick: true})
	requireOnePathRow(t, res, err, "fabric")
}

// TestPolicyEnforced checks that the policy is really in force on the VPC
// and on the gVisor iptables path (so their figures carry its cost), and
// absent on the direct path: a port the policy does not open is reached
// only directly.
func TestPolicyEnforced(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	for _, path := range []string{pathVPC, pathDirect, pathGVisor} {
		t.Run(path, func(t *testing.T) {
			p, err := newBenchPair(path)
			require.NoError(t, err)
			defer p.close()
			for _, port := range []uint16{benchPort, benchPort + 1} {
				l, err := p.srv.Listen(port)
				require.NoError(t, err)
				ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
				c, err := p.cli.Dial(ctx, "tcp", netip.AddrPortFrom(p.srv.Addr(), port))
				cancel()
				if port == benchPort || path == pathDirect {
					require.NoError(t, err, "port %d", port)
					c.Close()
				} else {
					require.Error(t, err, "port %d must be blocked", port)
				}
				l.Close()
			}
		})
	}
}
