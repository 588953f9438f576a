package cli

import (
	"fmt"
	"os"

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
	return cmd
}
