package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vpclab/vpclab/lint"
	"github.com/vpclab/vpclab/lint/fix"
	"github.com/vpclab/vpclab/sandbox"
	"github.com/vpclab/vpclab/topology"
)

func newLintCmd() *cobra.Command {
	var (
		f        sandboxFlags
		why      string
		fixIt    bool
		writeFix bool
	)
	cmd := &cobra.Command{
		Use:   "lint FILE... [--why GROUP/INDEX] | lint --fix [-w] FILE | lint --sandbox NAME",
		Short: "Find redundant, shadowed and risky security-group rules, exactly (exit 0 clean, 1 findings, 2 invalid)",
		Long: `Lint compiles every instance's decision lists as the cloud does (all its
groups' rules merged and sorted, intra-group access, the defaults) and finds,
for each rule, whether removing it changes the verdict of any packet:

  DUPLICATE                 an identical rule is already there
  SHADOWED                  rules before it decide every packet it matches
  NO_EFFECT                 what follows it decides the same (a drop that
                            repeats the default deny, an accept a later
                            broader accept repeats)
  COVERED_BY_INNER_ACCEPT   it only matches members of a group whose members
                            already accept each other
  REDUNDANT_ON_SOME_NICS    redundant on the instances named, needed on others

A rule is reported when it is redundant on every instance of its group (a
group without members: within the group alone). The analysis is exact both
ways: for every rule it keeps, --why GROUP/INDEX prints a packet the rule
decides and the verdicts with and without it. INDEX counts the group's
rules as the file lists them, from 0. The default group's system rules and
intra-group access stay: they are not the user's to remove.

It also reports OPEN_TO_WORLD (22, 3389, 3306, 5432, 6379, 9200, 27017,
11211 or every protocol accepted from 0.0.0.0/0), CONFLICT (an accept and a
drop overlap at the same priority: the drop wins), EMPTY_REFERENCE (a rule
naming a group without members), UNUSED_GROUP (no instance in it, no rule
naming it), QUOTA_NEAR (a group or an instance at 90% of its quota, with how
many rules removing the redundant ones saves) and SYSTEM_RULE_OUTRANKED (a
user drop that hides the default group's SSH, RDP or ICMP rule).

With --sandbox (or --run-dir) it lints the running sandbox's current state —
rules added and removed and groups joined or left through the control API
included — and adds NEVER_MATCHED: a rule that decided no connection since
the sandbox started (or since its instances' groups last changed).

--fix prints FILE with the rules redundant on every instance of their group
removed and the rules of a group that differ in one range only merged
(22/22 + 23/23, two halves of a CIDR, identical rules), comments, anchors,
key order and quoting kept; -w writes it back to FILE. What each group saves
against quotas.rules_per_group goes to stderr, with the rules that came from
imports: (to change in their own file) and anything left as it was. The
rewritten file is loaded again first and decides every packet as FILE does.

Every finding names file:line:col, the group and the rule (and the imported
resource it came from), says what it means and how to fix it.

Exit status: 0 no finding, 1 findings, 2 an invalid file (printed as
validate prints it).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(f.output); err != nil {
				return err
			}
			if why != "" {
				if _, _, err := splitWhy(why); err != nil {
					return err
				}
			}
			if writeFix && !fixIt {
				return usageError("lint -w: only with --fix")
			}
			if fixIt {
				if len(args) != 1 || why != "" || cmd.Flags().Changed("sandbox") || f.runDir != "" {
					return usageError("lint --fix: give exactly one file (no --why, no --sandbox)")
				}
				return lintFix(cmd, args[0], writeFix)
			}
			if cmd.Flags().Changed("sandbox") || f.runDir != "" {
				if len(args) > 0 {
					return usageError("lint: give files or --sandbox, not both")
				}
				return lintSandbox(cmd, &f, why)
			}
			if len(args) == 0 {
				return usageError("lint: give at least one file (or --sandbox NAME)")
			}
			if why != "" && len(args) > 1 {
				return usageError("lint --why: give one file")
			}
			return lintFiles(cmd, args, f.output, why)
		},
	}
	cmd.Flags().BoolVar(&fixIt, "fix", false, "print FILE with the redundant rules removed and mergeable rules merged (the same policy, fewer rules)")
	cmd.Flags().BoolVarP(&writeFix, "write", "w", false, "with --fix: write the result back to FILE")
	cmd.Flags().StringVar(&why, "why", "", "explain one rule, GROUP/INDEX (INDEX counts the group's rules in the file from 0)")
	addSandboxFlags(cmd, &f)
	return cmd
}

// splitWhy parses GROUP/INDEX.
func splitWhy(s string) (string, int, error) {
	g, i, found := strings.Cut(s, "/")
	n, err := strconv.Atoi(i)
	if !found || g == "" || err != nil || n < 0 {
		return "", 0, usageError("--why %q: want GROUP/INDEX, INDEX counting the group's rules in the file from 0 (sg-web/2)", s)
	}
	return g, n, nil
}

// lintReport is one file's lint as -o json prints it: an invalid file has
// its errors instead of findings.
type lintReport struct {
	*lint.Report
	Valid  bool        `json:"valid"`
	Errors []fileError `json:"errors,omitempty"`
}

func lintFiles(cmd *cobra.Command, files []string, output, why string) error {
	var reports []lintReport
	invalid, findings := 0, 0
	for _, file := range files {
		t, err := topology.LoadFile(file)
		if err != nil {
			invalid++
			reports = append(reports, lintReport{Report: &lint.Report{File: file, Findings: []lint.Finding{}}, Errors: loadErrors(file, err)})
			continue
		}
		printWarnings(cmd.ErrOrStderr(), loadWarnings(t))
		rep, err := lint.Run(t, lint.Options{})
		if err != nil {
			return &exitError{code: 1, err: err}
		}
		if why != "" {
			g, i, _ := splitWhy(why)
			w, err := rep.Why(g, i)
			if err != nil {
				return usageError("--why %w", err)
			}
			if output == "json" {
				return writeJSON(cmd.OutOrStdout(), w)
			}
			printWhy(cmd.OutOrStdout(), w)
			return nil
		}
		findings += len(rep.Findings)
		reports = append(reports, lintReport{Report: rep, Valid: true})
	}
	w := cmd.OutOrStdout()
	if output == "json" {
		if err := writeJSON(w, reports); err != nil {
			return err
		}
	} else {
		for _, r := range reports {
			if !r.Valid {
				for _, e := range r.Errors {
					fmt.Fprintln(w, errorLine(e))
				}
				continue
			}
			printFindings(w, r.Report)
		}
	}
	switch {
	case invalid > 0:
		return &exitError{code: 2, err: fmt.Errorf("%d of %s invalid", invalid, count(len(files), "file"))}
	case findings > 0:
		return &exitError{code: 1, err: fmt.Errorf("%s", count(findings, "finding"))}
	}
	return nil
}

func lintSandbox(cmd *cobra.Command, f *sandboxFlags, why string) error {
	findings := 0
	err := ask(cmd, f, func(ctx context.Context, c *sandbox.Client) (sandbox.LintResponse, error) {
		resp, err := c.Lint(ctx, why)
		if resp.Report != nil && why == "" {
			findings = len(resp.Report.Findings)
		}
		return resp, err
	}, func(_ *sandbox.Client, resp sandbox.LintResponse) error {
		if resp.Why != nil {
			printWhy(cmd.OutOrStdout(), resp.Why)
			return nil
		}
		printFindings(cmd.OutOrStdout(), resp.Report)
		return nil
	})
	if err != nil {
		return err
	}
	if findings > 0 {
		return &exitError{code: 1, err: fmt.Errorf("%s", count(findings, "finding"))}
	}
	return nil
}

// ruleText names a rule: "sg-web rule 2 (ingress accept ...)".
func ruleText(r *lint.RuleRef) string {
	switch r.Kind {
	case lint.KindInner:
		return r.Text
	case lint.KindSystem:
		return fmt.Sprintf("%s system rule (%s)", r.Group, r.Text)
	case lint.KindRuntime:
		return fmt.Sprintf("%s rule added at runtime (%s)", r.Group, r.Text)
	}
	return fmt.Sprintf("%s rule %d (%s)", r.Group, r.Index, r.Text)
}

// refPlace is where the file gives a rule, and the import it came from.
func refPlace(r *lint.RuleRef) string {
	var s []string
	if r.Line > 0 {
		s = append(s, fmt.Sprintf("%s:%d:%d", r.File, r.Line, r.Column))
	}
	if r.Origin != nil {
		s = append(s, "from "+r.Origin.String())
	}
	return strings.Join(s, ", ")
}

// printFindings writes one finding per paragraph, compiler style:
// "file:line:col: severity: CODE: group rule N (text): message", then the
// covering rules, the import the rule came from and the fix.
func printFindings(w io.Writer, rep *lint.Report) {
	for i := range rep.Findings {
		f := &rep.Findings[i]
		place := rep.File
		if f.Line > 0 {
			place = fmt.Sprintf("%s:%d:%d", f.File, f.Line, f.Column)
		}
		subject := ""
		switch {
		case f.Rule != nil:
			subject = ruleText(f.Rule) + ": "
		case f.Group != "":
			subject = "group " + f.Group + ": "
		}
		fmt.Fprintf(w, "%s: %s: %s: %s%s\n", place, f.Severity, f.Code, subject, f.Message)
		if f.Rule != nil && f.Rule.Origin != nil {
			fmt.Fprintf(w, "    from: %s\n", f.Rule.Origin)
		}
		if len(f.NICs) > 0 {
			fmt.Fprintf(w, "    on: %s\n", strings.Join(f.NICs, ", "))
		}
		for j := range f.By {
			b := &f.By[j]
			label := "by"
			if f.Code == lint.CodeConflict {
				label = "with"
			}
			if p := refPlace(b); p != "" {
				fmt.Fprintf(w, "    %s: %s at %s\n", label, ruleText(b), p)
			} else {
				fmt.Fprintf(w, "    %s: %s\n", label, ruleText(b))
			}
		}
		fmt.Fprintf(w, "    fix: %s\n", f.Fix)
	}
	saved := 0
	for _, idx := range rep.Redundant {
		saved += len(idx)
	}
	if len(rep.Findings) == 0 {
		fmt.Fprintf(w, "%s: no findings\n", rep.File)
		return
	}
	fmt.Fprintf(w, "%s: %s; %s redundant on every instance of their group\n", rep.File, count(len(rep.Findings), "finding"), count(saved, "rule"))
}

// printWhy explains one rule.
func printWhy(w io.Writer, x *lint.Why) {
	fmt.Fprintf(w, "%s", ruleText(&x.Rule))
	if p := refPlace(&x.Rule); p != "" {
		fmt.Fprintf(w, " at %s", p)
	}
	fmt.Fprintln(w)
	if x.Direction == "" {
		fmt.Fprintf(w, "  %s: %s\n", x.Cause, "an identical rule comes earlier in the group: the cloud holds it once")
		for i := range x.By {
			fmt.Fprintf(w, "  covered by: %s at %s\n", ruleText(&x.By[i]), refPlace(&x.By[i]))
		}
		return
	}
	if x.Redundant {
		where := "every instance of the group (" + strings.Join(x.RedundantOn, ", ") + ")"
		if len(x.RedundantOn) == 1 && strings.HasPrefix(x.RedundantOn[0], "(") {
			where = "the group alone (it has no members)"
		}
		fmt.Fprintf(w, "  redundant (%s) on %s\n", x.Cause, where)
		if len(x.By) == 0 {
			fmt.Fprintf(w, "  it matches no packet the rules before it leave, or only repeats the implicit default\n")
		}
		for i := range x.By {
			if p := refPlace(&x.By[i]); p != "" {
				fmt.Fprintf(w, "  covered by: %s at %s\n", ruleText(&x.By[i]), p)
			} else {
				fmt.Fprintf(w, "  covered by: %s\n", ruleText(&x.By[i]))
			}
		}
		return
	}
	fmt.Fprintf(w, "  needed on: %s\n", strings.Join(x.NeededOn, ", "))
	if len(x.RedundantOn) > 0 {
		fmt.Fprintf(w, "  redundant (%s) on: %s\n", x.Cause, strings.Join(x.RedundantOn, ", "))
	}
	fmt.Fprintf(w, "  witness on %s, %s: %s\n", x.NIC, x.Direction, x.Witness)
	fmt.Fprintf(w, "    with the rule:    %s\n", x.With)
	fmt.Fprintf(w, "    without the rule: %s\n", x.Without)
}

// lintFix rewrites one file with fewer rules and the same policy: the rules
// lint finds redundant on every NIC of their group (Report.Redundant) go,
// mergeable rules merge (lint/fix); the file goes to stdout or back to FILE
// (-w), the savings to stderr.
func lintFix(cmd *cobra.Command, file string, write bool) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	t, err := loadTopology(file, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	rep, err := lint.Run(t, lint.Options{})
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	var removals []fix.Removal
	for _, g := range slices.Sorted(maps.Keys(rep.Redundant)) {
		for _, i := range rep.Redundant[g] {
			removals = append(removals, fix.Removal{Group: g, Index: i})
		}
	}
	out, frep, err := fix.Fix(data, t, removals)
	if err != nil {
		return &exitError{code: 1, err: fmt.Errorf("lint --fix %s: %w", file, err)}
	}
	fix.WriteReport(cmd.ErrOrStderr(), frep)
	if !write {
		_, err := cmd.OutOrStdout().Write(out)
		return err
	}
	st, err := os.Stat(file)
	if err != nil {
		return err
	}
	return os.WriteFile(file, out, st.Mode().Perm())
}
