package ros

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vpclab/vpclab/topology"
)

// TestMultipleTemplates imports a directory of templates: their fragments
// join, a logical id defined twice and a second VPC are errors naming both
// places.
func TestMultipleTemplates(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("ROSTemplateFormatVersion: '2015-09-01'\nResources:\n"+body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.yaml", "  Vpc:\n    Type: ALIYUN::ECS::VPC\n    Properties: {CidrBlock: 10.0.0.0/16}\n  Sg:\n    Type: ALIYUN::ECS::SecurityGroup\n")
	if err := os.WriteFile(filepath.Join(dir, "b.json"), []byte(`{"ROSTemplateFormatVersion": "2015-09-01", "Resources": {"Web": {"Type": "ALIYUN::ECS::SecurityGroup"}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	write("notes.txt", "not a template")
	frag, err := Import([]string{dir}, topology.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(frag.SecurityGroups) != 2 || frag.SecurityGroups[0].Name != "Sg" || frag.SecurityGroups[1].Name != "Web" {
		t.Errorf("groups %+v, want Sg then Web", frag.SecurityGroups)
	}

	write("c.yaml", "  Other:\n    Type: ALIYUN::ECS::VPC\n    Properties: {CidrBlock: 10.1.0.0/16}\n  Sg:\n    Type: ALIYUN::ECS::SecurityGroup\n")
	_, err = Import([]string{dir}, topology.ImportOptions{})
	got := strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), "")
	want := "c.yaml:3:3: Resources.Other: not supported: a second VPC (the first is Vpc at a.yaml:3:3 Vpc); a topology has one VPC (--skip-unsupported leaves it out)\n" +
		"c.yaml:6:3: Resources.Sg: logical id Sg is also defined at a.yaml:6:3"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// TestRegistered checks importing the package makes the format available
// to `vpclab import` and imports:.
func TestRegistered(t *testing.T) {
	imp, ok := topology.LookupImporter("ros")
	if !ok {
		t.Fatal(`format "ros" is not registered`)
	}
	frag, err := imp([]string{filepath.Join("testdata", "real", "forward-entry.yml")}, topology.ImportOptions{})
	if err != nil || frag.Format != "ros" || len(frag.Instances) != 1 {
		t.Fatalf("got %+v, %v", frag, err)
	}
}
