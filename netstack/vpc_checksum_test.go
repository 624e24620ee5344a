package netstack

import (
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVPCNATChecksums sends TCP bulk data, UDP and pings through EIP, SNAT
// and DNAT translation, with offload (super-segments with partial
// checksums) and without (full checksums the receivers verify): no
// receiving stack may count a checksum error.
func TestVPCNATChecksums(t *testing.T) {
	for _, offload := range []bool{true, false} {
		t.Run(fmt.Sprintf("offload=%v", offload), func(t *testing.T) {
			v := newTestVPC(t, VPCConfig{Name: "vpc", CIDR: netip.MustParsePrefix("10.0.0.0/16"), NoOffload: !offload})
			require.NoError(t, v.AddNATGateway(NATGatewaySpec{Name: "ngw", VSwitch: "vsw-a", EIP: gwEIP, SNAT: []string{"vsw-a"}}))
			snat := addInstance(t, v, InstanceSpec{Name: "snat"})
			eip := addInstance(t, v, InstanceSpec{Name: "eip", EIP: webEIP})
			host := addHost(t, v, "client1", client1.String())
			echoAll(t, 22, snat, eip, host)

			msg := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
			pairs := []struct {
				name string
				from *Instance
				to   netip.AddrPort
			}{
				{"snat out", snat, ap(client1, 22)},
				{"eip out", eip, ap(client1, 22)},
				{"eip in", host, ap(webEIP, 22)},
			}
			for _, p := range pairs {
				c, err := p.from.Dial(ctxTimeout(t, allowWait), "tcp", p.to)
				require.NoError(t, err, p.name)
				go c.Write(msg)
				got := make([]byte, len(msg))
				c.SetDeadline(time.Now().Add(10 * time.Second))
				_, err = io.ReadFull(c, got)
				require.NoError(t, err, p.name)
				assert.True(t, bytes.Equal(got, msg), p.name)
				c.Close()
				if p.from != host { // the default group admits no UDP
					require.NoError(t, probe(p.from, "udp", p.to, allowWait), p.name)
				}
				require.NoError(t, probe(p.from, "icmp", p.to, allowWait), p.name)
			}
			for _, inst := range []*Instance{snat, eip, host} {
				st := inst.stack.Stats()
				assert.Zero(t, st.TCP.ChecksumErrors.Value(), "%s TCP checksum errors", inst.Name())
				assert.Zero(t, st.UDP.ChecksumErrors.Value(), "%s UDP checksum errors", inst.Name())
				assert.Zero(t, st.IP.MalformedPacketsReceived.Value(), "%s malformed IP", inst.Name())
				assert.Zero(t, st.ICMP.V4.PacketsReceived.Invalid.Value(), "%s invalid ICMP", inst.Name())
			}
		})
	}
}
