package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/vpclab/vpclab/topology"
)

const k8sExampleDir = "../../examples/kubernetes"

// k8sExample is what examples/kubernetes/ declares, each document decoded
// strictly (an unknown or misspelt field is an error) into the Kubernetes
// API type of its kind.
type k8sExample struct {
	sts        *appsv1.StatefulSet
	svc        *corev1.Service
	configMaps map[string]*corev1.ConfigMap
}

func loadK8sExample(t *testing.T) k8sExample {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(k8sExampleDir, "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	ex := k8sExample{configMaps: map[string]*corev1.ConfigMap{}}
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
		for n := 0; ; n++ {
			doc, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err, f)
			if len(bytes.TrimSpace(doc)) == 0 {
				continue
			}
			where := fmt.Sprintf("%s document %d", f, n)
			var tm metav1.TypeMeta
			require.NoError(t, yaml.Unmarshal(doc, &tm), where)
			var obj any
			switch tm.APIVersion + " " + tm.Kind {
			case "apps/v1 StatefulSet":
				require.Nil(t, ex.sts, "%s: a second StatefulSet", where)
				ex.sts = &appsv1.StatefulSet{}
				obj = ex.sts
			case "v1 Service":
				require.Nil(t, ex.svc, "%s: a second Service", where)
				ex.svc = &corev1.Service{}
				obj = ex.svc
			case "v1 ConfigMap":
				cm := &corev1.ConfigMap{}
				obj = cm
				defer func() { ex.configMaps[cm.Name] = cm }()
			default:
				t.Fatalf("%s: unexpected %s %s", where, tm.APIVersion, tm.Kind)
			}
			require.NoError(t, yaml.UnmarshalStrict(doc, obj), where)
		}
	}
	require.NotNil(t, ex.sts, "no StatefulSet")
	require.NotNil(t, ex.svc, "no Service")
	return ex
}

// TestK8sExampleManifests: the StatefulSet, its headless Service and the
// topology ConfigMap fit together, and the topology runs sharded 3 ways
// with every expectation passing.
func TestK8sExampleManifests(t *testing.T) {
	ex := loadK8sExample(t)
	sts, svc := ex.sts, ex.svc
	require.Equal(t, svc.Name, sts.Spec.ServiceName)
	require.Equal(t, corev1.ClusterIPNone, svc.Spec.ClusterIP, "the Service must be headless for per-pod DNS names")
	require.True(t, svc.Spec.PublishNotReadyAddresses, "shards resolve each other before they are ready")
	require.Equal(t, appsv1.ParallelPodManagement, sts.Spec.PodManagementPolicy)
	require.NotNil(t, sts.Spec.Replicas)
	require.EqualValues(t, 3, *sts.Spec.Replicas)
	for k, v := range svc.Spec.Selector {
		require.Equal(t, v, sts.Spec.Template.Labels[k], "selector %s", k)
	}
	require.Len(t, svc.Spec.Ports, 1)
	require.Equal(t, corev1.ProtocolUDP, svc.Spec.Ports[0].Protocol)
	require.EqualValues(t, 51821, svc.Spec.Ports[0].Port)

	require.Len(t, sts.Spec.Template.Spec.Containers, 1)
	c := sts.Spec.Template.Spec.Containers[0]
	require.Len(t, c.Ports, 1)
	require.Equal(t, svc.Spec.Ports[0].TargetPort.String(), c.Ports[0].Name)
	require.Equal(t, corev1.ProtocolUDP, c.Ports[0].Protocol)
	require.EqualValues(t, 51821, c.Ports[0].ContainerPort)

	// Each mount's source: the topology ConfigMap is in the example; the
	// key Secret and the public keys ConfigMap are made by README.md's
	// commands.
	sources := map[string]string{}
	for _, v := range sts.Spec.Template.Spec.Volumes {
		switch {
		case v.ConfigMap != nil:
			sources[v.Name] = "configmap/" + v.ConfigMap.Name
		case v.Secret != nil:
			sources[v.Name] = "secret/" + v.Secret.SecretName
			require.NotNil(t, v.Secret.DefaultMode)
			require.Zero(t, *v.Secret.DefaultMode&0o007, "private keys must not be world-readable")
		case v.EmptyDir != nil:
			sources[v.Name] = "emptydir"
		}
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = sources[m.Name]
	}
	require.Equal(t, map[string]string{
		"/vpclab/config": "configmap/vpclab-topology",
		"/vpclab/keys":   "secret/vpclab-shard-keys",
		"/vpclab/peers":  "configmap/vpclab-shard-public-keys",
		"/tmp":           "emptydir",
	}, mounts)
	require.Equal(t, "/vpclab", c.WorkingDir)
	readme, err := os.ReadFile(filepath.Join(k8sExampleDir, "README.md"))
	require.NoError(t, err)
	for _, s := range []string{"kubectl create secret generic vpclab-shard-keys", "kubectl create configmap vpclab-shard-public-keys", "vpclab vpn keygen", "not exercised on a cluster"} {
		require.Contains(t, string(readme), s)
	}

	cm := ex.configMaps["vpclab-topology"]
	require.NotNil(t, cm, "no ConfigMap vpclab-topology")
	top, err := topology.Load("topology.yaml", []byte(cm.Data["topology.yaml"]))
	require.NoError(t, err)
	if testing.Short() {
		return
	}
	results, err := runShardsInProcess(context.Background(), top, 3, topology.RunOptions{})
	require.NoError(t, err)
	require.Len(t, results, len(top.Expect))
	shards := map[int]bool{}
	for _, r := range results {
		require.True(t, r.Pass, "%s → %s: %s", r.From, r.To, r.Detail)
		shards[topology.ShardOf(r.From, 3)] = true
		shards[topology.ShardOf(r.To, 3)] = true
	}
	require.Len(t, shards, 3, "the expectations should cross every shard")
}

// TestK8sExampleEntrypoint runs the StatefulSet's entrypoint, as the
// container would, for each pod ordinal: with the keys README.md makes
// (vpn keygen), a stand-in getent that resolves the headless Service's
// names, and a stand-in vpclab that prints its arguments. Those arguments
// must parse with up's own flags (a renamed flag fails here) and make a
// valid shard configuration naming every other shard once, at its
// resolved address.
func TestK8sExampleEntrypoint(t *testing.T) {
	ex := loadK8sExample(t)
	c := ex.sts.Spec.Template.Spec.Containers[0]
	n := int(*ex.sts.Spec.Replicas)

	dir := t.TempDir()
	for _, d := range []string{"config", "keys", "peers", "bin"} {
		require.NoError(t, os.Mkdir(filepath.Join(dir, d), 0o755))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "config", "topology.yaml"),
		[]byte(ex.configMaps["vpclab-topology"].Data["topology.yaml"]), 0o644))
	pubs := make([]string, n)
	for i := range n {
		out, stderr, code := vpclab("vpn", "keygen", "--private-key-file", filepath.Join(dir, "keys", fmt.Sprintf("shard-%d.key", i)))
		require.Equal(t, 0, code, stderr)
		pubs[i] = strings.TrimSpace(out)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "peers", fmt.Sprintf("shard-%d.pub", i)), []byte(out), 0o644))
	}
	const ns = "lab-ns"
	getent := `#!/bin/sh
[ "$1" = hosts ] || exit 2
case "$2" in
vpclab-[0-9].vpclab.` + ns + `.svc.cluster.local) j=${2#vpclab-}; j=${j%%.*}; echo "10.1.0.$j $2" ;;
*) exit 2 ;;
esac
`
	fake := "#!/bin/sh\nprintf '%s\\0' \"$@\"\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "bin", "getent"), []byte(getent), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "bin", "vpclab"), []byte(fake), 0o755))
	t.Chdir(dir) // the container's workingDir: up reads --shard-key @FILE relative to it

	for i := range n {
		t.Run("vpclab-"+strconv.Itoa(i), func(t *testing.T) {
			argv := append(slices.Clone(c.Command), c.Args...)
			cmd := exec.Command(argv[0], argv[1:]...)
			cmd.Dir = dir
			cmd.Env = []string{"HOSTNAME=vpclab-" + strconv.Itoa(i), "POD_NAMESPACE=" + ns,
				"PATH=" + filepath.Join(dir, "bin") + ":" + os.Getenv("PATH")}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			require.NoError(t, err, stderr.String())
			args := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
			require.Equal(t, "up", args[0])

			up := newUpCmd()
			require.NoError(t, up.ParseFlags(args[1:]))
			require.Equal(t, []string{"config/topology.yaml"}, up.Flags().Args())
			var sf shardFlags
			fl := up.Flags()
			var err1, err2, err3, err4 error
			sf.shard, err1 = fl.GetString("shard")
			sf.key, err2 = fl.GetString("shard-key")
			sf.listen, err3 = fl.GetInt("shard-listen")
			sf.peers, err4 = fl.GetStringArray("shard-peer")
			require.NoError(t, errors.Join(err1, err2, err3, err4))
			top, err := topology.LoadFile("config/topology.yaml")
			require.NoError(t, err)
			sc, _, err := sf.config(top)
			require.NoError(t, err)
			require.Equal(t, i, sc.Index)
			require.Equal(t, n, sc.Count)
			require.EqualValues(t, c.Ports[0].ContainerPort, sc.ListenPort)
			require.Equal(t, pubs[i], sc.PrivateKey.Public().String())

			require.Len(t, sc.Peers, n-1)
			seen := map[int]bool{}
			for _, p := range sc.Peers {
				require.NotEqual(t, i, p.Index)
				seen[p.Index] = true
				require.Equal(t, pubs[p.Index], p.PublicKey.String(), "peer %d", p.Index)
				// wireguard-go takes an IP endpoint, not a name.
				ap, err := netip.ParseAddrPort(p.Endpoint)
				require.NoError(t, err)
				require.Equal(t, netip.AddrPortFrom(netip.MustParseAddr(fmt.Sprintf("10.1.0.%d", p.Index)), 51821), ap)
			}
			require.Len(t, seen, n-1)
		})
	}
}
