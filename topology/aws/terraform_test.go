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
