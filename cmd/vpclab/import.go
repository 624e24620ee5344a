package main

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/vpclab/vpclab/topology"
)

// importFlags are the flags of vpclab import.
type importFlags struct {
	output          string
	vars            []string
	varFiles        []string
	params          []string
	skipUnsupported bool
}

func newImportCmd() *cobra.Command {
	var f importFlags
	cmd := &cobra.Command{
		Use:   "import FORMAT PATH...",
		Short: "Print a topology built from Terraform, cloud API JSON or ROS templates (exit 0 ok, 2 invalid input)",
		Long: `Import reads the configuration you deploy and prints it as a vpclab topology
(schema v1): security groups and their rules, and the VPC, vswitches,
instances, EIPs and NAT entries the input describes. Every entity carries
origin: (the file:line:column and the resource it came from), which explain,
diagnose and test print beside a deciding rule, so you land in your own file.
Values the cloud picks at creation and the input leaves open (a private
address, an EIP) are listed in assigned:; vpclab assigns them, the same way
on every run, when it loads the file.

FORMAT is one of the formats built in (an unknown one lists them). A PATH
of - reads stdin, named <stdin> in origins and errors:

  aliyun ecs DescribeSecurityGroupAttribute --SecurityGroupId sg-... | vpclab import aliyun -

--var and --var-file set Terraform variables, --param ROS parameters; the
environment's TF_VAR_* are read too. A value that decides reachability and
cannot be known offline is an error naming its file:line:col and what to pass.

What is imported is checked as vpclab loads a file (rules, group references,
quotas, addresses), each problem at the file:line:col of the input. An input
that describes no VPC or vswitches (a security group export, a ROS template of
one group) is printed all the same, with a note on stderr: the file needs vpc:
and vswitches: (and instances using the groups) before it loads, and a group
its rules reference but it does not define is a note too. To test such a
configuration as it changes, keep it where it is and name it from your own
topology instead:

  imports: [{format: terraform, path: ../infra}]

Things understood but not supported (IPv6 rules, port lists, ...) are errors;
with --skip-unsupported they are left out and listed on stderr, each with its
file:line:col. With -o json the topology is printed as JSON with the same
keys (it loads as a topology file too), and problems as validate -o json
prints them.

Exit status: 0 when the topology was printed, 2 on invalid input (every
problem at once, as validate prints them).`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runImport(cmd, args[0], args[1:], &f)
		},
	}
	cmd.Flags().StringVarP(&f.output, "output", "o", "yaml", "output format: yaml or json")
	cmd.Flags().StringArrayVar(&f.vars, "var", nil, "set a Terraform variable: name=value (HCL for lists and maps: 'ports=[22, 80]'); repeatable")
	cmd.Flags().StringArrayVar(&f.varFiles, "var-file", nil, "read Terraform variables from a .tfvars or .tfvars.json file; repeatable")
	cmd.Flags().StringArrayVar(&f.params, "param", nil, "set a ROS template parameter: name=value; repeatable")
	cmd.Flags().BoolVar(&f.skipUnsupported, "skip-unsupported", false, "leave out what vpclab understands but does not support (listed on stderr) instead of failing")
	return cmd
}

// varName is what a --var or --param name may be: an HCL identifier or a
// ROS parameter name.
var varName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

// parseAssignments reads name=value flags into vars. A name given twice
// keeps its last value, as terraform does with -var.
func parseAssignments(flag string, list []string, vars map[string]string) error {
	for _, a := range list {
		name, value, ok := strings.Cut(a, "=")
		if !ok || !varName.MatchString(name) {
			return usageError("--%s %q: want name=value, the name a letter or _ then letters, digits, _ or -", flag, a)
		}
		vars[name] = value
	}
	return nil
}

func runImport(cmd *cobra.Command, format string, paths []string, f *importFlags) error {
	if f.output != "yaml" && f.output != "json" {
		return usageError("-o %q: want yaml or json", f.output)
	}
	imp, ok := topology.LookupImporter(format)
	if !ok { // ROS, Terraform: formats are lower case
		format = strings.ToLower(format)
		imp, ok = topology.LookupImporter(format)
	}
	if !ok {
		known := strings.Join(topology.ImportFormats(), ", ")
		if known == "" {
			known = "none are built into this vpclab"
		}
		return usageError("unknown import format %q (formats: %s)", format, known)
	}
	opts := topology.ImportOptions{Vars: map[string]string{}, VarFiles: f.varFiles, Env: os.LookupEnv,
		SkipUnsupported: f.skipUnsupported}
	if err := parseAssignments("var", f.vars, opts.Vars); err != nil {
		return err
	}
	if err := parseAssignments("param", f.params, opts.Vars); err != nil {
		return err
	}
	label := format + " " + strings.Join(paths, " ")
	stdin, cleanup, err := stdinFile(cmd.InOrStdin(), paths)
	if err != nil {
		return err
	}
	defer cleanup()
	frag, err := runImporter(imp, stdin.replace(paths), opts)
	if err != nil {
		return invalidImport(label, stdin.renameErrors(loadErrors(label, err)))
	}
	stdin.renameOrigins(frag)
	stderr := cmd.ErrOrStderr()
	for _, s := range frag.Skipped {
		fmt.Fprintln(stderr, printable(s.String()))
	}
	top := fragmentTopology(frag)
	complete := top.VPC.CIDR.IsValid() && len(top.VSwitches) > 0
	groupsOnly := !top.VPC.CIDR.IsValid() && len(top.VSwitches) == 0 && len(top.Instances) == 0 && len(top.NATGateways) == 0
	switch {
	case complete:
		// A complete topology is checked as vpclab will load it, and
		// printed as loaded (CIDRs by their network, defaults implied).
		// Problems point at the input through the entities' origins.
		loaded, errs := checkImported(top)
		if errs != nil {
			return invalidImport(label, errs)
		}
		top = loaded
	case groupsOnly && len(top.SecurityGroups) > 0:
		// Groups alone (the common case) are checked in a VPC of one
		// vswitch and no instances, which can add no problem of its own:
		// rules, group references and quotas as vpclab will load them.
		// A group the rules reference and the input does not define is
		// the business of the topology the groups join: a note on
		// stderr, and an empty stand-in for the check.
		check := *top
		check.VPC = topology.VPC{CIDR: netip.MustParsePrefix("10.0.0.0/8")}
		check.VSwitches = []topology.VSwitch{{Name: "check", CIDR: netip.MustParsePrefix("10.0.0.0/24")}}
		check.SecurityGroups = slices.Clone(top.SecurityGroups)
		for _, name := range danglingReferences(top, stderr) {
			check.SecurityGroups = append(check.SecurityGroups, topology.SecurityGroup{Name: name})
		}
		loaded, errs := checkImported(&check)
		if errs != nil {
			return invalidImport(label, errs)
		}
		top.SecurityGroups = loaded.SecurityGroups[:len(top.SecurityGroups)]
	}
	if !complete {
		fmt.Fprintf(stderr, "vpclab import: %s describes no VPC or vswitches: the output needs vpc: and vswitches: (and instances using its groups) before it loads; or name the input from your topology with imports: [{format: %s, path: ...}]\n",
			printable(strings.Join(paths, " ")), format)
	}
	w := cmd.OutOrStdout()
	if f.output == "json" {
		out, err := topology.MarshalJSON(top)
		if err != nil {
			return err
		}
		_, err = w.Write(out)
		return err
	}
	out, err := topology.Marshal(top)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, importHeader(format, paths, frag, complete)); err != nil {
		return err
	}
	_, err = w.Write(out)
	return err
}

// maxStdin bounds an input read from stdin, as importers bound a file.
const maxStdin = 16 << 20

// stdinName is how an input read from stdin is named in origins and errors.
const stdinName = "<stdin>"

// stdinInput is the path "-" given to import: stdin, copied to a file
// because importers read paths. Its zero value stands for no "-".
type stdinInput struct{ tmp string }

// stdinFile copies stdin to a temporary file when paths hold "-" (once):
// `aliyun ecs DescribeSecurityGroupAttribute ... | vpclab import aliyun -`.
// The file is named .json when the input starts as JSON, else .yaml, for
// importers that tell formats apart by extension.
func stdinFile(r io.Reader, paths []string) (stdinInput, func(), error) {
	if n := countOf(paths, "-"); n == 0 {
		return stdinInput{}, func() {}, nil
	} else if n > 1 {
		return stdinInput{}, nil, usageError("- (stdin) is given %d times; it can be read once", n)
	}
	data, err := io.ReadAll(io.LimitReader(r, maxStdin+1))
	if err != nil {
		return stdinInput{}, nil, usageError("reading stdin: %v", err)
	}
	if len(data) > maxStdin {
		return stdinInput{}, nil, usageError("stdin holds more than %d MiB, the limit of an input", maxStdin>>20)
	}
	dir, err := os.MkdirTemp("", "vpclab-import-")
	if err != nil {
		return stdinInput{}, nil, err
	}
	ext := ".yaml"
	if t := strings.TrimSpace(string(data[:min(len(data), 64)])); strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[") {
		ext = ".json"
	}
	in := stdinInput{tmp: filepath.Join(dir, "stdin"+ext)}
	if err := os.WriteFile(in.tmp, data, 0o600); err != nil {
		os.RemoveAll(dir)
		return stdinInput{}, nil, err
	}
	return in, func() { os.RemoveAll(dir) }, nil
}

func countOf(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

// replace gives the importer the file in place of "-".
func (in stdinInput) replace(paths []string) []string {
	if in.tmp == "" {
		return paths
	}
	out := slices.Clone(paths)
	out[slices.Index(out, "-")] = in.tmp
	return out
}

// renameErrors names stdin as the user knows it, not by the copy.
func (in stdinInput) renameErrors(errs []fileError) []fileError {
	if in.tmp == "" {
		return errs
	}
	for i := range errs {
		if errs[i].File == in.tmp {
			errs[i].File = stdinName
		}
		errs[i].Message = strings.ReplaceAll(errs[i].Message, in.tmp, stdinName)
	}
	return errs
}

// renameOrigins names stdin in every origin of the fragment.
func (in stdinInput) renameOrigins(f *topology.Fragment) {
	if in.tmp == "" {
		return
	}
	fix := func(o *topology.Origin) {
		if o.File == in.tmp {
			o.File = stdinName
		}
	}
	fix(&f.VPC.Origin)
	for i := range f.VSwitches {
		fix(&f.VSwitches[i].Origin)
	}
	for i := range f.SecurityGroups {
		g := &f.SecurityGroups[i]
		fix(&g.Origin)
		for j := range g.Rules {
			fix(&g.Rules[j].Origin)
		}
	}
	for i := range f.Instances {
		fix(&f.Instances[i].Origin)
	}
	for i := range f.NATGateways {
		n := &f.NATGateways[i]
		fix(&n.Origin)
		for j := range n.DNAT {
			fix(&n.DNAT[j].Origin)
		}
	}
	for i := range f.Skipped {
		fix(&f.Skipped[i].Origin)
	}
}

// runImporter runs an importer, turning a panic (a bug the input found)
// into an error: the CLI never goes down on an input.
func runImporter(imp topology.Importer, paths []string, opts topology.ImportOptions) (frag *topology.Fragment, err error) {
	defer func() {
		if r := recover(); r != nil {
			frag, err = nil, fmt.Errorf("the importer failed on this input (a bug; please report it): %v", r)
		}
	}()
	frag, err = imp(paths, opts)
	if err == nil && frag == nil {
		frag = &topology.Fragment{}
	}
	return frag, err
}

// danglingReferences returns the groups that rules reference and the
// topology does not define, in order of first use, saying each use on w.
func danglingReferences(t *topology.Topology, w io.Writer) []string {
	defined := map[string]bool{}
	for _, g := range t.SecurityGroups {
		defined[g.Name] = true
	}
	var out []string
	for i, g := range t.SecurityGroups {
		for j, r := range g.Rules {
			ref, field := r.SourceGroup, "source_group"
			if r.DestinationGroup != "" {
				ref, field = r.DestinationGroup, "destination_group"
			}
			if ref == "" || defined[ref] {
				continue
			}
			o := r.Origin
			if o.IsZero() {
				o = g.Origin
			}
			path := topology.NamedPath(fmt.Sprintf("security_groups[%d].rules[%d].%s", i, j, field), g.Name)
			fmt.Fprintln(w, printable(fmt.Sprintf("%s:%d:%d: note: %s: group %s is not in the input; define it beside these groups", o.File, o.Line, o.Column, path, ref)))
			if !slices.Contains(out, ref) {
				out = append(out, ref)
			}
		}
	}
	return out
}

// invalidImport is the exit-2 error of an import whose input has problems:
// printed one per line on stderr, or as validate's JSON report on stdout
// with -o json (see reportInvalid).
func invalidImport(label string, errs []fileError) error {
	lines := make([]string, len(errs))
	for i, e := range errs {
		lines[i] = printable(errorLine(e))
	}
	return &exitError{code: 2, err: &invalidFile{file: label, errs: errs, err: errors.New(strings.Join(lines, "\n"))}}
}

// fragmentTopology is the fragment as a topology file of its own.
func fragmentTopology(f *topology.Fragment) *topology.Topology {
	t := &topology.Topology{Version: topology.Version, VPC: f.VPC, VSwitches: f.VSwitches,
		SecurityGroups: f.SecurityGroups, Instances: f.Instances, NATGateways: f.NATGateways}
	t.Platform.BlockOutboundSMTP = true // the schema's default
	return t
}

// checkImported loads the topology as vpclab will. On problems it returns
// them with the position of the input each entity came from (its origin,
// or its group's for a rule without one) instead of a position in the
// generated text, which no one has seen.
func checkImported(t *topology.Topology) (*topology.Topology, []fileError) {
	out, err := topology.Marshal(t)
	if err != nil {
		return nil, []fileError{{File: "import", Message: err.Error()}}
	}
	loaded, err := topology.Load("(imported)", out)
	if err == nil {
		return loaded, nil
	}
	errs := loadErrors("(imported)", err)
	for i := range errs {
		e := &errs[i]
		o := originAt(t, e.Path)
		if o.IsZero() {
			continue
		}
		e.File, e.Line, e.Column = o.File, o.Line, o.Column
		if o.Resource != "" && o.Resource != e.Entity {
			e.Message += " (in " + o.Resource + ")"
		}
	}
	slices.SortStableFunc(errs, func(a, b fileError) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
	return nil, errs
}

// originAt returns the origin of the innermost entity on a field path
// ("security_groups[1].rules[3].port_range" → the rule's, else the group's)
// that has one.
func originAt(t *topology.Topology, path string) topology.Origin {
	var list []topology.Origin // outermost first
	var i, j int
	switch {
	case strings.HasPrefix(path, "vpc"):
		list = append(list, t.VPC.Origin)
	case scanIndex(path, "vswitches[%d]", &i) && i < len(t.VSwitches):
		list = append(list, t.VSwitches[i].Origin)
	case scanIndex(path, "security_groups[%d]", &i) && i < len(t.SecurityGroups):
		g := &t.SecurityGroups[i]
		list = append(list, g.Origin)
		if scanIndex(path, "security_groups[%d].rules[%d]", &i, &j) && j < len(g.Rules) {
			list = append(list, g.Rules[j].Origin)
		}
	case scanIndex(path, "instances[%d]", &i) && i < len(t.Instances):
		list = append(list, t.Instances[i].Origin)
	case scanIndex(path, "nat_gateways[%d]", &i) && i < len(t.NATGateways):
		n := &t.NATGateways[i]
		list = append(list, n.Origin)
		if scanIndex(path, "nat_gateways[%d].dnat[%d]", &i, &j) && j < len(n.DNAT) {
			list = append(list, n.DNAT[j].Origin)
		}
	}
	for k := len(list) - 1; k >= 0; k-- {
		if !list[k].IsZero() {
			return list[k]
		}
	}
	return topology.Origin{}
}

// scanIndex reads the indexes of a path prefix such as "rules[%d]".
func scanIndex(path, format string, idx ...*int) bool {
	args := make([]any, len(idx))
	for k, p := range idx {
		args[k] = p
	}
	n, err := fmt.Sscanf(path, format, args...)
	return err == nil && n == len(idx)
}

// importHeader is the comment at the top of an imported topology: what was
// imported from where, and how to read origin: and assigned:.
func importHeader(format string, paths []string, f *topology.Fragment, complete bool) string {
	var b strings.Builder
	quoted := make([]string, len(paths))
	for i, p := range paths {
		quoted[i] = shellWord(p)
	}
	fmt.Fprintf(&b, "# Imported by: vpclab import %s %s\n", format, strings.Join(quoted, " "))
	var counts []string
	rules := 0
	for _, g := range f.SecurityGroups {
		rules += len(g.Rules)
	}
	for _, c := range []struct {
		n         int
		one, many string
	}{{len(f.VSwitches), "vswitch", "vswitches"}, {len(f.SecurityGroups), "security group", "security groups"}, {rules, "rule", "rules"},
		{len(f.Instances), "instance", "instances"}, {len(f.NATGateways), "NAT gateway", "NAT gateways"}} {
		if c.n > 0 {
			counts = append(counts, count(c.n, c.one, c.many))
		}
	}
	if f.VPC.CIDR.IsValid() {
		counts = append([]string{"a VPC"}, counts...)
	}
	if len(counts) == 0 {
		counts = []string{"nothing vpclab uses"}
	}
	fmt.Fprintf(&b, "# It holds %s.\n", strings.Join(counts, ", "))
	b.WriteString("# Each origin: is the file:line:column and the resource the entity came from.\n")
	b.WriteString("# assigned: marks what the cloud picks at creation and the input leaves open (ip, eip);\n")
	b.WriteString("# vpclab assigns it when it loads this file, the same on every run.\n")
	if len(f.Skipped) > 0 {
		fmt.Fprintf(&b, "# %s left out (--skip-unsupported), listed on stderr.\n", count(len(f.Skipped), "unsupported item was", "unsupported items were"))
	}
	if len(f.Instances) > 0 {
		b.WriteString("# Imported instances list no services: a cloud configuration does not say what listens.\n")
	}
	if !complete {
		b.WriteString("# No vpc or vswitches were imported: add them (and instances using the groups) before this loads,\n")
		fmt.Fprintf(&b, "# or name the input from a topology: imports: [{format: %s, path: ...}].\n", format)
	}
	return b.String()
}

// shellWord quotes a path for the header when it holds anything but plain
// characters; the result holds no line break or control character.
func shellWord(s string) string {
	plain := s != ""
	for _, r := range s {
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("-_./+@:,=", r)) {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	return strconv.QuoteToGraphic(s)
}

// printable replaces control and invisible characters by escapes, so that a
// line printed to a terminal carries none from the input.
func printable(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsGraphic(r) }) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsGraphic(r) {
			b.WriteRune(r)
			continue
		}
		q := strconv.QuoteRuneToASCII(r)
		b.WriteString(q[1 : len(q)-1])
	}
	return b.String()
}
