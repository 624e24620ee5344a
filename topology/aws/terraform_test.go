package aws

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpclab/vpclab/topology"
)

// importText is the golden form of importing paths: the fragment (JSON) or
// the errors, without and with --skip-unsupported.
func importText(t *testing.T, paths []string, opts topology.ImportOptions) string {
	t.Helper()
	var b strings.Builder
	for _, skip := range []bool{false, true} {
		b.WriteString(map[bool]string{false: "== import ==\n", true: "== import --skip-unsupported ==\n"}[skip])
		opts.SkipUnsupported = skip
		frag, err := Import(paths, opts)
		if err != nil {
			var list topology.Errors
			require.True(t, errors.As(err, &list), "the error is a topology.Errors: %v", err)
			for _, e := range list {
				assert.Positive(t, e.Line, "%v", e)
				assert.Positive(t, e.Column, "%v", e)
				assert.NotEmpty(t, e.File, "%v", e)
			}
			b.WriteString(err.Error() + "\n")
			continue
		}
		for _, s := range frag.Skipped {
			b.WriteString(s.String() + "\n")
		}
		b.Write(fragmentJSON(t, frag))
	}
	return b.String()
}

// terraformInputs are the inputs under dir: directories (a configuration
// each), .tf and .tf.json files, and show JSON files.
func terraformInputs(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() || strings.HasSuffix(n, ".tf") || strings.HasSuffix(n, ".json") {
			out = append(out, filepath.Join(dir, n))
		}
	}
	require.NotEmpty(t, out)
	return out
}

func goldenName(p string) string {
	for _, ext := range []string{".tf.json", ".tf", ".json"} {
		if strings.HasSuffix(p, ext) {
			return strings.TrimSuffix(p, ext) + ".golden"
		}
	}
	return p + ".golden"
}

// TestImportTerraformReal imports each public configuration
// (testdata/terraform/real/README.md) and compares the fragment, or the
// errors, with its golden file.
func TestImportTerraformReal(t *testing.T) {
	for _, p := range terraformInputs(t, "testdata/terraform/real") {
		t.Run(filepath.Base(p), func(t *testing.T) {
			golden(t, goldenName(p), []byte(importText(t, []string{p}, topology.ImportOptions{})))
		})
	}
}

// TestImportTerraformFragments checks what each small configuration under
// testdata/terraform/fragments maps to.
func TestImportTerraformFragments(t *testing.T) {
	for _, p := range terraformInputs(t, "testdata/terraform/fragments") {
		t.Run(filepath.Base(p), func(t *testing.T) {
			golden(t, goldenName(p), []byte(importText(t, []string{p}, topology.ImportOptions{})))
		})
	}
}

// TestImportTerraformErrors checks the errors of every input under
// testdata/terraform/errors, with file:line:col, against its golden file.
func TestImportTerraformErrors(t *testing.T) {
	for _, p := range terraformInputs(t, "testdata/terraform/errors") {
		t.Run(filepath.Base(p), func(t *testing.T) {
			got := importText(t, []string{p}, topology.ImportOptions{})
			assert.Contains(t, got, p+":", "an error names the file")
			golden(t, goldenName(p), []byte(got))
		})
	}
}

// TestImportTerraformWithJSON imports describe-* JSON and Terraform
// together: one translation, and a literal group id in the configuration
// names the group of the JSON.
func TestImportTerraformWithJSON(t *testing.T) {
	dir := t.TempDir()
	tf := filepath.Join(dir, "main.tf")
	require.NoError(t, os.WriteFile(tf, []byte(`
resource "aws_subnet" "a" {
  vpc_id     = "vpc-1a2b3c4d"
  cidr_block = "10.0.1.0/24"
}

resource "aws_instance" "web" {
  subnet_id              = aws_subnet.a.id
  private_ip             = "10.0.1.10"
  vpc_security_group_ids = ["sg-903004f8"]
}
`), 0o644))
	frag, err := Import([]string{"testdata/real/describe-security-groups-vpc.json", dir}, topology.ImportOptions{})
	require.NoError(t, err)
	require.Len(t, frag.SecurityGroups, 1)
	assert.Equal(t, "MySecurityGroup", frag.SecurityGroups[0].Name)
	require.Len(t, frag.Instances, 1)
	assert.Equal(t, "aws_instance.web", frag.Instances[0].Name)
	assert.Equal(t, []string{"MySecurityGroup"}, frag.Instances[0].SecurityGroups)
	assert.Equal(t, "aws_subnet.a", frag.Instances[0].VSwitch)
}

// TestImportTerraformPaths checks which paths are read as Terraform.
func TestImportTerraformPaths(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(text), 0o644))
		return p
	}
	group := "resource \"aws_security_group\" \"g\" {\n  name = \"g\"\n}\n"
	tests := []struct {
		name  string
		paths []string
		want  string // the group's name, or the error
	}{
		{"a .tf file", []string{write("one/main.tf", group)}, "aws_security_group.g"},
		{"a directory of .tf files", []string{filepath.Join(dir, "one")}, "aws_security_group.g"},
		{"a .tf.json file", []string{write("two/main.tf.json", `{"resource": {"aws_security_group": {"j": {"name": "j"}}}}`)}, "aws_security_group.j"},
		{"show JSON", []string{write("show.json", `{"format_version": "1.0", "values": {"root_module": {"resources": [
			{"address": "aws_security_group.s", "mode": "managed", "type": "aws_security_group", "name": "s", "values": {"id": "sg-1", "name": "s", "ingress": [], "egress": []}}]}}}`)},
			"aws_security_group.s"},
		{"describe JSON stays JSON", []string{write("sg.json", `{"SecurityGroups": [{"GroupId": "sg-9", "GroupName": "nine"}]}`)}, "nine"},
		{"a directory of neither", []string{write("empty/notes.txt", "x")[:len(dir)+6]}, "the directory holds no .json file (describe-* output) and no .tf or .tf.json file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frag, err := Import(tt.paths, topology.ImportOptions{})
			if err != nil {
				assert.Contains(t, err.Error(), tt.want)
				return
			}
			require.Len(t, frag.SecurityGroups, 1)
			assert.Equal(t, tt.want, frag.SecurityGroups[0].Name)
		})
	}
}

func TestSuggest(t *testing.T) {
	args := ruleBlock.Args
	tests := []struct{ in, want string }{
		{"cidr_block", "cidr_blocks"},
		{"from_prot", "from_port"},
		{"security_group", "security_groups"},
		{"selff", "self"},
		{"sources", ""},
		{"", ""},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, suggest(tt.in, args), tt.in)
	}
}
