package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpclab/vpclab/topology"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/")

// The real importers are linked in by importers.go; these tests use their
// own, "test", which reads a Fragment written as JSON (Go field names) and
// behaves as the contract asks of an importer: every problem at once as
// topology.Errors, unsupported items an error unless SkipUnsupported.
func init() { topology.RegisterImporter("test", testImporter) }

var (
	lastOptsMu sync.Mutex
	lastOpts   topology.ImportOptions
)

func testImporter(paths []string, opts topology.ImportOptions) (*topology.Fragment, error) {
	if len(paths) == 1 && paths[0] == "panic" {
		panic("index out of range [3] with length 3")
	}
	if len(paths) == 1 && paths[0] == "nothing" {
		return nil, nil
	}
	lastOptsMu.Lock()
	lastOpts = opts
	lastOptsMu.Unlock()
	out := &topology.Fragment{Format: "test"}
	var errs topology.Errors
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		var f topology.Fragment
		if err := json.Unmarshal(data, &f); err != nil {
			line, col := 1, 1
			var se *json.SyntaxError
			if errors.As(err, &se) {
				for _, c := range data[:se.Offset-1] {
					col++
					if c == '\n' {
						line, col = line+1, 1
					}
				}
			}
			errs = append(errs, &topology.Error{File: p, Line: line, Column: col, Msg: err.Error()})
			continue
		}
		for i := range f.SecurityGroups { // an origin without a file is in this one
			if o := &f.SecurityGroups[i].Origin; o.File == "" && o.Line > 0 {
				o.File = p
			}
		}
		if f.VPC.CIDR.IsValid() {
			out.VPC = f.VPC
		}
		out.VSwitches = append(out.VSwitches, f.VSwitches...)
		out.SecurityGroups = append(out.SecurityGroups, f.SecurityGroups...)
		out.Instances = append(out.Instances, f.Instances...)
		out.NATGateways = append(out.NATGateways, f.NATGateways...)
		for _, s := range f.Skipped {
			if opts.SkipUnsupported {
				out.Skipped = append(out.Skipped, s)
				continue
			}
			errs = append(errs, &topology.Error{File: s.Origin.File, Line: s.Origin.Line, Column: s.Origin.Column,
				Path: s.What, Entity: s.Origin.Resource, Msg: s.Why + "; pass --skip-unsupported to leave it out"})
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

// checkGolden compares got with testdata/import/name.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	checkGoldenAt(t, filepath.Join("testdata", "import", name), got)
}

// checkGoldenAt compares got with the file at path, or rewrites it with
// -update.
func checkGoldenAt(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./cmd/vpclab -run "+t.Name()+" -update")
	assert.Equal(t, string(want), got, "differs from %s", path)
}

const importDir = "testdata/import/"

// TestImportGolden prints each input as YAML and JSON; both load back to
// the same topology, and the stderr of each is golden too.
func TestImportGolden(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files []string
		flags []string
	}{
		{"complete", []string{"complete.json"}, nil},
		{"groups-only", []string{"groups-only.json"}, []string{"--skip-unsupported"}},
		// A reference to a group defined elsewhere: a note, and the rule
		// printed as the input has it.
		{"dangling-groups", []string{"dangling-groups.json"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"import", "test"}
			for _, f := range tc.files {
				args = append(args, importDir+f)
			}
			args = append(args, tc.flags...)
			yamlOut, yamlErr, code, err := runVPCLab(t, args...)
			require.Equal(t, 0, code, "%v\n%s", err, yamlErr)
			checkGolden(t, tc.name+".yaml", yamlOut)
			checkGolden(t, tc.name+".stderr", yamlErr)
			jsonOut, _, code, err := runVPCLab(t, append(args, "-o", "json")...)
			require.Equal(t, 0, code, "%v", err)
			checkGolden(t, tc.name+".out.json", jsonOut)
			if tc.name != "complete" {
				return
			}
			fromYAML, err := topology.Load("y", []byte(yamlOut))
			require.NoError(t, err)
			fromJSON, err := topology.Load("j", []byte(jsonOut))
			require.NoError(t, err)
			a, _ := topology.Marshal(fromYAML)
			b, _ := topology.Marshal(fromJSON)
			assert.Equal(t, string(a), string(b))
			assert.Equal(t, topology.Origin{File: "infra/main.tf", Line: 27, Column: 1, Resource: `alicloud_security_group_rule.deny["all"]`},
				fromYAML.SecurityGroups[0].Rules[1].Origin)
		})
	}
}

// TestImportErrors: every problem of the input at once, exit 2, on stderr
// as validate prints them, or on stdout as validate -o json does.
func TestImportErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files []string
	}{
		// The importer's own errors (its input's positions).
		{"broken", []string{"broken.json", "groups-only.json"}},
		// What the loader refuses, at the input's position of the entity.
		{"invalid", []string{"invalid.json"}},
		// Groups alone are checked too: rules, references.
		{"invalid-groups", []string{"invalid-groups.json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"import", "test"}
			for _, f := range tc.files {
				args = append(args, importDir+f)
			}
			stdout, stderr, code, err := runVPCLab(t, args...)
			assert.Equal(t, 2, code)
			assert.Empty(t, stdout, "nothing is printed for an input with problems")
			checkGolden(t, tc.name+".errors", err.Error()+"\n")
			for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
				// Problems are in the error, printed once by main; stderr
				// holds notes only.
				assert.True(t, l == "" || strings.Contains(l, ": note: "), "stderr: %s", l)
			}

			stdout, _, code, _ = runVPCLab(t, append(args, "-o", "json")...)
			assert.Equal(t, 2, code)
			var rep validateReport
			require.NoError(t, json.Unmarshal([]byte(stdout), &rep), stdout)
			assert.False(t, rep.Valid)
			lines := strings.Split(strings.TrimSpace(err.Error()), "\n")
			require.Len(t, rep.Errors, len(lines))
			for i, e := range rep.Errors {
				assert.Equal(t, lines[i], errorLine(e))
			}
		})
	}
}

// TestImportInvalidMapsOrigins checks the positions of the loader's
// problems: the input's file:line:col of the rule, and of the instance.
func TestImportInvalidMapsOrigins(t *testing.T) {
	_, _, code, err := runVPCLab(t, "import", "test", importDir+"invalid.json")
	require.Equal(t, 2, code)
	var inv *invalidFile
	require.True(t, errors.As(err, &inv))
	var at []string
	for _, e := range inv.errs {
		at = append(at, fmt.Sprintf("%s:%d:%d %s", e.File, e.Line, e.Column, e.Path))
	}
	assert.Equal(t, []string{
		"main.tf:14:3 security_groups[0].rules[0].port_range",
		"main.tf:20:1 instances[0].security_groups[0]",
	}, at)
}

// TestImportFlags: what reaches the importer, and what is refused before
// it runs.
func TestImportFlags(t *testing.T) {
	t.Setenv("TF_VAR_region", "cn-hangzhou")
	_, stderr, code, err := runVPCLab(t, "import", "test", importDir+"complete.json",
		"--var", "env=staging", "--var", "ports=[22, 80]", "--var", "env=prod", "--param", "Zone=cn-hangzhou-h",
		"--var-file", "a.tfvars", "--var-file", "b.tfvars.json", "--skip-unsupported")
	require.Equal(t, 0, code, "%v %s", err, stderr)
	lastOptsMu.Lock()
	opts := lastOpts
	lastOptsMu.Unlock()
	assert.Equal(t, map[string]string{"env": "prod", "ports": "[22, 80]", "Zone": "cn-hangzhou-h"}, opts.Vars)
	assert.Equal(t, []string{"a.tfvars", "b.tfvars.json"}, opts.VarFiles)
	assert.True(t, opts.SkipUnsupported)
	require.NotNil(t, opts.Env)
	v, ok := opts.Env("TF_VAR_region")
	assert.True(t, ok)
	assert.Equal(t, "cn-hangzhou", v)
	_, _, code, err = runVPCLab(t, "import", "TEST", importDir+"complete.json")
	require.Equal(t, 0, code, "formats in any case: %v", err)

	stdout, stderr, code, err := runVPCLab(t, "import", "test", "nothing")
	require.Equal(t, 0, code, "%v", err)
	assert.Contains(t, stdout, "# It holds nothing vpclab uses.\n")
	assert.True(t, strings.HasSuffix(stdout, "\nversion: 1\n"), "an empty input is an empty topology:\n%s", stdout)
	assert.Contains(t, stderr, "describes no VPC or vswitches")

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"import", "nope", "x"}, `unknown import format "nope" (formats: aliyun, aws, ros, terraform, test)`},
		{[]string{"import", "test", "x", "-o", "table"}, `-o "table": want yaml or json`},
		{[]string{"import", "test", "x", "--var", "novalue"}, `--var "novalue": want name=value`},
		{[]string{"import", "test", "x", "--param", "=v"}, `--param "=v": want name=value`},
		{[]string{"import", "test"}, "requires at least 2 arg(s)"},
		{[]string{"import", "test", importDir + "missing.json"}, "no such file or directory"},
		{[]string{"import", "test", "panic"}, "the importer failed on this input (a bug; please report it): index out of range"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			stdout, _, code, err := runVPCLab(t, tc.args...)
			assert.Equal(t, 2, code)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Empty(t, stdout)
		})
	}
}

// TestImportStdin: "-" reads stdin; origins and errors name it <stdin>,
// never the temporary copy the importer was given.
func TestImportStdin(t *testing.T) {
	run := func(stdin string, args ...string) (string, string, int, error) {
		var out, errb bytes.Buffer
		root := newRootCmd()
		root.SetArgs(args)
		root.SetIn(strings.NewReader(stdin))
		root.SetOut(&out)
		root.SetErr(&errb)
		err := root.Execute()
		code := 0
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
		return out.String(), errb.String(), code, err
	}
	stdout, _, code, err := run(`{"SecurityGroups": [{"Name": "sg-web", "Origin": {"Line": 1, "Column": 20, "Resource": "sg-bp1"}}]}`,
		"import", "test", "-")
	require.Equal(t, 0, code, "%v", err)
	assert.Contains(t, stdout, `origin: {file: "<stdin>", line: 1, column: 20, resource: sg-bp1}`)
	assert.NotContains(t, stdout, os.TempDir())

	_, _, code, err = run("{\n  \"SecurityGroups\": [\n    {\"Name\": oops}]}", "import", "test", "-")
	require.Equal(t, 2, code)
	assert.Equal(t, "<stdin>:3:14: invalid character 'o' looking for beginning of value", err.Error())

	_, _, code, err = run("", "import", "test", "-", "-")
	require.Equal(t, 2, code)
	assert.EqualError(t, err, "- (stdin) is given 2 times; it can be read once")
}
