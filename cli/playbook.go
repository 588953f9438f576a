package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/cmo-dev/cmo/playbooks"
)

func newPlaybookCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "playbook", Short: "Work with playbook files"}
	cmd.AddCommand(&cobra.Command{
		Use:   "validate FILE...",
		Short: "Check playbook files and report every problem as file:line:col",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			bad := 0
			for _, file := range args {
				src, err := os.ReadFile(file)
				if err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), err)
					bad++
					continue
				}
				p, err := playbooks.Parse(file, src)
				if err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), err)
					bad++
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (%s %s, %d steps)\n", file, p.Kind, p.Name, len(p.Steps))
			}
			if bad > 0 {
				return exitCode(1)
			}
			return nil
		},
	})
	var dir string
	list := &cobra.Command{
		Use:   "list",
		Short: "List the playbooks cmo ships (and those in --playbooks DIR)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			lib, err := playbooks.Load(dir)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tKIND\tTITLE\tPARAMS\tFILE")
			for _, p := range lib.List() {
				var params []string
				for _, n := range sortedNames(p.Params) {
					params = append(params, n+":"+p.Params[n].Type)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", p.Name, p.Kind, p.DisplayTitle(), strings.Join(params, " "), p.File)
			}
			return w.Flush()
		},
	}
	show := &cobra.Command{
		Use:   "show NAME",
		Short: "Print a playbook's compiled plan as JSON",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			lib, err := playbooks.Load(dir)
			if err != nil {
				return err
			}
			p, ok := lib.Get(args[0])
			if !ok {
				return fmt.Errorf("no playbook %q (known: %s)", args[0], strings.Join(lib.Names(), ", "))
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(p)
		},
	}
	for _, c := range []*cobra.Command{list, show} {
		c.Flags().StringVar(&dir, "playbooks", "", "directory of extra playbooks (*.yaml)")
		cmd.AddCommand(c)
	}
	return cmd
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
