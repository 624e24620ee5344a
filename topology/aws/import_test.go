package aws

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpclab/vpclab/topology"
)

var update = flag.Bool("update", false, "rewrite golden files")

// golden compares got with the file, or rewrites it with -update.
func golden(t *testing.T, file string, got []byte) {
	t.Helper()
	if *update {
		require.NoError(t, os.WriteFile(file, got, 0o644))
		return
	}
	want, err := os.ReadFile(file)
	require.NoError(t, err, "run go test -update to create it")
	assert.Equal(t, string(want), string(got), "%s differs; run go test -update after checking the change", file)
}

// fragmentJSON is the golden form of a fragment.
func fragmentJSON(t *testing.T, f *topology.Fragment) []byte {
	t.Helper()
	out, err := json.MarshalIndent(f, "", "  ")
	require.NoError(t, err)
	return append(out, '\n')
}

// TestImportReal imports each public sample (testdata/real/README.md) and
// compares the fragment with its golden file.
func TestImportReal(t *testing.T) {
	files, err := filepath.Glob("testdata/real/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			frag, err := Import([]string{f}, topology.ImportOptions{})
			require.NoError(t, err)
			golden(t, strings.TrimSuffix(f, ".json")+".golden", fragmentJSON(t, frag))
		})
	}
}

// TestImportTogether imports the samples of one VPC at once: subnets and
// the VPC, and a directory.
func TestImportTogether(t *testing.T) {
	frag, err := Import([]string{"testdata/real/describe-vpcs.json", "testdata/real/describe-subnets.json",
		"testdata/real/describe-security-groups-vpc.json"}, topology.ImportOptions{})
	require.NoError(t, err)
	assert.Equal(t, "MyVPC", frag.VPC.Name)
	assert.Equal(t, "10.0.0.0/16", frag.VPC.CIDR.String())
	require.Len(t, frag.VSwitches, 1)
	assert.Equal(t, "subnet-9d4a7b6c", frag.VSwitches[0].Name)
	require.Len(t, frag.SecurityGroups, 1)
	// The group is in another VPC than the imported one: only 0.0.0.0/0
	// is known to hold its members, which the default egress rule is.
	assert.Equal(t, "accept", frag.SecurityGroups[0].InnerAccess)

	_, err = Import([]string{"testdata/real"}, topology.ImportOptions{})
	var list topology.Errors
	require.ErrorAs(t, err, &list, "the directory holds the same group twice (classic and VPC samples)")
	assert.Contains(t, err.Error(), "the same group is given twice")
}

// TestImportErrors checks the error of every input under testdata/errors,
// and what --skip-unsupported makes of it, against its golden file.
func TestImportErrors(t *testing.T) {
	files, err := filepath.Glob("testdata/errors/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			var b strings.Builder
			for _, skip := range []bool{false, true} {
				b.WriteString(map[bool]string{false: "== import ==\n", true: "== import --skip-unsupported ==\n"}[skip])
				frag, err := Import([]string{f}, topology.ImportOptions{SkipUnsupported: skip})
				switch {
				case err != nil:
					var list topology.Errors
					require.True(t, errors.As(err, &list), "the error is a topology.Errors: %v", err)
					for _, e := range list {
						assert.Positive(t, e.Line)
						assert.Positive(t, e.Column)
						assert.Equal(t, f, e.File)
					}
					b.WriteString(err.Error() + "\n")
				default:
					b.WriteString("ok\n")
					for _, s := range frag.Skipped {
						b.WriteString(s.String() + "\n")
					}
				}
			}
			golden(t, strings.TrimSuffix(f, ".json")+".golden", []byte(b.String()))
		})
	}
}

func TestImportPaths(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name  string
		paths []string
		want  string
	}{
		{"none", nil, "aws:1:1: no input"},
		{"missing", []string{filepath.Join(dir, "nope.json")}, "nope.json:1:1: cannot read: no such file or directory"},
		{"empty dir", []string{dir}, ":1:1: the directory holds no .json file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Import(tt.paths, topology.ImportOptions{})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestImportTooLarge(t *testing.T) {
	f := filepath.Join(t.TempDir(), "big.json")
	require.NoError(t, os.WriteFile(f, make([]byte, maxFileSize+1), 0o644))
	_, err := Import([]string{f}, topology.ImportOptions{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "big.json:1:1: larger than 16 MiB")
}

func TestRegistered(t *testing.T) {
	imp, ok := topology.LookupImporter("aws")
	require.True(t, ok)
	require.NotNil(t, imp)
}
