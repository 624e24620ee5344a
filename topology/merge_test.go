package topology

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The test-only import format "fragment": a JSON file holding a Fragment
// (its Go field names) and, optionally, "Errors" the importer returns
// instead, each placed in the input file. It drives the merge without the
// real importers, which depend on this package.
func init() { RegisterImporter("fragment", importFragment) }

var (
	lastOptsMu sync.Mutex
	lastOpts   ImportOptions // what the last fragment import was given
)

func importFragment(paths []string, opts ImportOptions) (*Fragment, error) {
	lastOptsMu.Lock()
	lastOpts = opts
	lastOptsMu.Unlock()
	if len(paths) != 1 {
		return nil, fmt.Errorf("want one path, got %d", len(paths))
	}
	f, err := os.Open(paths[0])
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return nil, fmt.Errorf("%s is a directory; the fragment format reads one file", paths[0])
	}
	data, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return nil, err
	}
	var in struct {
		Fragment
		Errors []Error
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		line, col := 1, 1
		var se *json.SyntaxError
		if errors.As(err, &se) {
			for _, c := range data[:min(int(se.Offset), len(data))] {
				if c == '\n' {
					line, col = line+1, 1
				} else {
					col++
				}
			}
		}
		return nil, Errors{{File: paths[0], Line: line, Column: col, Msg: "invalid JSON: " + err.Error()}}
	}
	if len(in.Errors) > 0 {
		var list Errors
		for i := range in.Errors {
			e := in.Errors[i]
			e.File = paths[0]
			list = append(list, &e)
		}
		return nil, list
	}
	in.Fragment.Format = "fragment"
	return &in.Fragment, nil
}

// TestImportGolden loads every testdata/imports/*.yaml, which import JSON
// fragments beside them, and compares the outcome with its .golden: the
// errors of the file and its imports, or the merged topology as JSON.
func TestImportGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/imports/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yaml"), func(t *testing.T) {
			got := outcome(t, f)
			golden := strings.TrimSuffix(f, ".yaml") + ".golden"
			if *update {
				require.NoError(t, os.WriteFile(golden, got, 0o644))
				return
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run go test ./topology -run ImportGolden -update")
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from %s:\n--- got\n%s\n--- want\n%s", f, golden, got, want)
			}
		})
	}
}

// TestImportOptions checks what an import is given: vars and params as
// Vars, var files relative to the topology file, the environment, and
// skip_unsupported.
func TestImportOptions(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "f.json"), []byte(`{}`), 0o644))
	src := `version: 1
vpc: {cidr: 10.0.0.0/16}
vswitches: [{name: a, cidr: 10.0.1.0/24}]
imports:
  - format: fragment
    path: f.json
    vars: {env: staging, count: 2, on: true, zones: '["a", "b"]'}
    var_files: [x.tfvars, /abs/y.tfvars]
    skip_unsupported: true
`
	t.Setenv("TF_VAR_region", "cn-hangzhou")
	_, err := Load(filepath.Join(dir, "top.yaml"), []byte(src))
	require.NoError(t, err)
	lastOptsMu.Lock()
	got := lastOpts
	lastOptsMu.Unlock()
	assert.Equal(t, map[string]string{"env": "staging", "count": "2", "on": "true", "zones": `["a", "b"]`}, got.Vars)
	assert.Equal(t, []string{filepath.Join(dir, "x.tfvars"), "/abs/y.tfvars"}, got.VarFiles)
	assert.True(t, got.SkipUnsupported)
	require.NotNil(t, got.Env)
	v, ok := got.Env("TF_VAR_region")
	assert.True(t, ok)
	assert.Equal(t, "cn-hangzhou", v)
}

// TestImportReadFresh checks that the input is read on every Load, not
// cached: a change to it shows at the next Load.
func TestImportReadFresh(t *testing.T) {
	dir := t.TempDir()
	input := filepath.Join(dir, "f.json")
	src := []byte("version: 1\nvpc: {cidr: 10.0.0.0/16}\nvswitches: [{name: a, cidr: 10.0.1.0/24}]\nimports: [{format: fragment, path: f.json}]\n")
	for _, name := range []string{"sg-one", "sg-two"} {
		require.NoError(t, os.WriteFile(input, []byte(`{"SecurityGroups": [{"Name": "`+name+`"}]}`), 0o644))
		top, err := Load(filepath.Join(dir, "top.yaml"), src)
		require.NoError(t, err)
		require.Len(t, top.SecurityGroups, 1)
		assert.Equal(t, name, top.SecurityGroups[0].Name)
	}
}

// TestAssignedEIPs checks the EIP pool: in order, skipping what the file
// uses, and an error naming the entity when it runs out.
func TestAssignedEIPs(t *testing.T) {
	tests := []struct {
		name      string
		instances int    // imported instances with assigned [eip]
		extra     string // more of the topology file
		want      []string
		wantErr   string
	}{
		{name: "first addresses", instances: 3, want: []string{"203.0.113.1", "203.0.113.2", "203.0.113.3"}},
		{name: "skips used ones", instances: 2,
			extra: "internet: {hosts: [{name: h, ip: 203.0.113.1}]}\nexpect: [{from: h, to: 203.0.113.3, port: 1, result: block}]\n",
			want:  []string{"203.0.113.2", "203.0.113.4"}},
		{name: "next range", instances: 256, want: []string{"203.0.113.1"}},
		{name: "runs out", instances: 763, wantErr: "instances[762] (alicloud_instance.i[762]).eip: no address left to assign an EIP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			var frag Fragment
			for i := range tt.instances {
				frag.Instances = append(frag.Instances, Instance{Name: fmt.Sprintf("alicloud_instance.i[%d]", i), VSwitch: "a",
					Assigned: []string{"ip", "eip"}, Origin: Origin{File: "main.tf", Line: i + 1, Column: 1, Resource: fmt.Sprintf("alicloud_instance.i[%d]", i)}})
			}
			data, err := json.Marshal(frag)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join(dir, "f.json"), data, 0o644))
			src := "version: 1\nvpc: {cidr: 10.0.0.0/16}\nvswitches: [{name: a, cidr: 10.0.0.0/20}]\nimports: [{format: fragment, path: f.json}]\n" + tt.extra
			top, err := Load(filepath.Join(dir, "top.yaml"), []byte(src))
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), "main.tf:763:1: "+tt.wantErr)
				return
			}
			require.NoError(t, err)
			for i, want := range tt.want {
				assert.Equal(t, want, top.Instances[i].EIP.String(), "instance %d", i)
				assert.Equal(t, []string{"ip", "eip"}, top.Instances[i].Assigned)
			}
			if tt.instances == 256 {
				assert.Equal(t, "192.0.2.1", top.Instances[254].EIP.String())
				assert.Equal(t, "192.0.2.2", top.Instances[255].EIP.String())
			}
		})
	}
}

// TestResolveAlias checks the CLI's lookup of short names.
func TestResolveAlias(t *testing.T) {
	top, err := LoadFile("testdata/imports/valid-merge.yaml")
	require.NoError(t, err)
	assert.Equal(t, "alicloud_instance.web[0]", top.Resolve("web[0]"))
	assert.Equal(t, "customer", top.Resolve("customer"))
	assert.Equal(t, "nobody", top.Resolve("nobody"))
	assert.Equal(t, "alicloud_instance.web[0]", top.Aliases()["web[0]"])
}

// TestShortName checks which names have a short form.
func TestShortName(t *testing.T) {
	for name, want := range map[string]string{
		"alicloud_instance.web[0]":          "web[0]",
		"alicloud_security_group.web":       "web",
		`aws_instance.app["a"]`:             `app["a"]`,
		"module.net.alicloud_vswitch.a":     "",
		"web-1":                             "",
		"sg-bp1.x":                          "",
		"Alicloud_instance.web":             "",
		"alicloud_instance.":                "",
		"alicloud_instance.web.extra.parts": "web.extra.parts",
	} {
		got, ok := shortName(name)
		assert.Equal(t, want, got, name)
		assert.Equal(t, want != "", ok, name)
	}
}
