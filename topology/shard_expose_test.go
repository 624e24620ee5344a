package topology

import (
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestShardedExpose: the edge shard serves the exposed ports of an
// instance another shard runs — it alone listens on the host, its host
// client's connection crosses the link to the instance — and the security
// groups decide as in one process: the open port answers, the closed one
// is reset.
func TestShardedExpose(t *testing.T) {
	open, closed := freePort(t), freePort(t)
	topo := exposeTopology(t, open, closed)
	require.Equal(t, 1, ShardOf("web-1", 2), "web-1 runs on the shard that is not the edge")
	labs, err := buildShards(t, topo, 2)
	require.NoError(t, err)
	var xs [2]*Exposure
	for i, l := range labs {
		x, err := l.Expose(ExposeOptions{DialTimeout: 5 * time.Second})
		require.NoError(t, err)
		t.Cleanup(func() { x.Close() })
		xs[i] = x
	}
	require.Len(t, xs[EdgeShard].Ports, 2, "the edge listens for every exposed port")
	require.Empty(t, xs[1].Ports, "the instance's shard opens no host port")
	require.Equal(t, HostClientName, xs[EdgeShard].Ports[0].Client)
	require.Nil(t, labs[1].VPC.Instance(HostClientName), "the host client runs on the edge only")

	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/", open))
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "body %q", body)
	require.Contains(t, string(body), "web-1")

	_, err = c.Get(fmt.Sprintf("http://127.0.0.1:%d/", closed))
	require.Error(t, err, "port 22 is not open to the internet: the host connection is reset")
	st := xs[EdgeShard].Stats()
	require.NotZero(t, st.BlockedByGroups, "the groups' drop, seen on the edge: %+v", st)
}
