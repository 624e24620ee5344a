package aws

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/vpclab/vpclab/topology"
)

// writeDump writes a describe-security-groups dump of groups × perGroup
// permissions (one rule each, every fourth a group reference).
func writeDump(b *testing.B, groups, perGroup int) string {
	b.Helper()
	var out []jsonGroup
	for g := range groups {
		grp := jsonGroup{GroupId: fmt.Sprintf("sg-%08x", g), GroupName: fmt.Sprintf("group-%d", g), VpcId: "vpc-1", OwnerId: rtOwner,
			IpPermissionsEgress: []jsonPermission{{IpProtocol: "-1", IpRanges: []jsonRange{{"0.0.0.0/0"}}}}}
		for i := range perGroup {
			p := jsonPermission{IpProtocol: "tcp", FromPort: intp(1000 + i), ToPort: intp(1000 + i)}
			if i%4 == 3 {
				p.UserIdGroupPairs = []jsonPair{{GroupId: fmt.Sprintf("sg-%08x", (g+1)%groups), UserId: rtOwner}}
			} else {
				p.IpRanges = []jsonRange{{fmt.Sprintf("10.%d.%d.0/24", g%256, i%256)}}
			}
			grp.IpPermissions = append(grp.IpPermissions, p)
		}
		out = append(out, grp)
	}
	data, err := json.MarshalIndent(map[string]any{"SecurityGroups": out}, "", "    ")
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "sg.json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkImportGroups50Rules5000 imports a 5,000-rule API dump (issue
// 12: at most 2 s).
func BenchmarkImportGroups50Rules5000(b *testing.B) {
	path := writeDump(b, 50, 100)
	b.ReportAllocs()
	for b.Loop() {
		frag, err := Import([]string{path}, topology.ImportOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if len(frag.SecurityGroups) != 50 {
			b.Fatal("wrong group count")
		}
	}
}
