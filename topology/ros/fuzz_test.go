package ros

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vpclab/vpclab/topology"
)

// FuzzImportROS feeds arbitrary text to the template import (parser,
// functions, resources): it must never panic or hang, and must either
// return errors with positions or a fragment.
func FuzzImportROS(f *testing.F) {
	for _, glob := range []string{"testdata/real/*.yml", "testdata/fragments/*.yaml", "testdata/errors/*.yaml", "testdata/errors/*.json"} {
		files, _ := filepath.Glob(glob)
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Add([]byte(`{"ROSTemplateFormatVersion":"2015-09-01","Resources":{"A":{"Type":"ALIYUN::ECS::SecurityGroup","Properties":{"SecurityGroupIngress":[{"IpProtocol":"tcp","PortRange":{"Fn::Sub":"${A.B}"},"SourceCidrIp":{"Fn::Select":["0",{"Fn::Split":[",",{"Fn::Join":[",",[{"Ref":"A"}]]}]}]}}]}}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		errs := &errList{file: "fuzz.yaml", skip: len(data)%2 == 0}
		tmpl, b := importData("fuzz.yaml", data, topology.ImportOptions{Vars: map[string]string{"Env": "dev"}}, errs)
		for _, e := range errs.errs {
			if e.Line < 1 || e.Column < 1 {
				t.Fatalf("error without a position: %v", e)
			}
		}
		if tmpl == nil && len(errs.errs) == 0 {
			t.Fatal("no template and no error")
		}
		_ = b
	})
}
