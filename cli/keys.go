package cli

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/cmo-dev/cmo/access"
	"github.com/cmo-dev/cmo/config"
	"github.com/cmo-dev/cmo/store"
)

// newKeysCmd manages API keys straight in the database, so the first
// admin key can be made before anyone can call the API (later keys may
// also be made through POST /v1/keys).
func newKeysCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Create, list and revoke API keys (in " + config.EnvDatabaseURL + ")",
	}
	withStore := func(cmd *cobra.Command, run func(ctx context.Context, st *store.Store) error) error {
		cfg, err := config.FromEnv()
		if err != nil {
			return err
		}
		if cfg.DatabaseURL == "" {
			return fmt.Errorf("%s is not set: keys live in the cmo database", config.EnvDatabaseURL)
		}
		pool, err := connectPostgres(cmd.Context(), cfg, logger(cmd.ErrOrStderr(), cfg.LogLevel, cfg.LogFormat))
		if err != nil {
			return err
		}
		defer pool.Close()
		return run(cmd.Context(), store.New(pool, nil))
	}

	var actor, role string
	var brands []string
	create := &cobra.Command{
		Use:   "create",
		Short: "Make a key and print it (shown once: only its hash is kept)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if strings.TrimSpace(actor) == "" {
				return fmt.Errorf("--actor is required: who holds the key (a name or e-mail)")
			}
			r, err := access.ParseRole(role)
			if err != nil {
				return fmt.Errorf("--role: %w", err)
			}
			if err := access.ValidBrands(brands); err != nil {
				return fmt.Errorf("--brand: %w", err)
			}
			return withStore(cmd, func(ctx context.Context, st *store.Store) error {
				for _, b := range brands {
					if b == access.AllBrands {
						continue
					}
					if _, err := st.Brand(ctx, b); err != nil {
						return fmt.Errorf("--brand %s: %w", b, err)
					}
				}
				k, secret, err := st.CreateAPIKey(ctx, strings.TrimSpace(actor), r, brands, "cmo keys create")
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "key %s for %s: %s on %s. It is shown only now:\n", k.ID, k.Actor, k.Role, strings.Join(k.Brands, ", "))
				fmt.Fprintln(cmd.OutOrStdout(), secret)
				return nil
			})
		},
	}
	create.Flags().StringVar(&actor, "actor", "", "who holds the key; recorded as the actor of what it does")
	create.Flags().StringVar(&role, "role", "", "viewer, marketer, approver, pr-lead or admin")
	create.Flags().StringSliceVar(&brands, "brand", []string{access.AllBrands}, "brand the key may act on (repeat or comma-separate; * for every brand)")

	list := &cobra.Command{
		Use:   "list",
		Short: "List keys (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd, func(ctx context.Context, st *store.Store) error {
				keys, err := st.APIKeys(ctx)
				if err != nil {
					return err
				}
				w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "ID\tACTOR\tROLE\tBRANDS\tCREATED\tLAST USED\tREVOKED")
				for _, k := range keys {
					used, revoked := "-", "-"
					if k.LastUsedAt != nil {
						used = k.LastUsedAt.UTC().Format("2006-01-02 15:04")
					}
					if k.RevokedAt != nil {
						revoked = k.RevokedAt.UTC().Format("2006-01-02 15:04")
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Actor, k.Role, strings.Join(k.Brands, ","),
						k.CreatedAt.UTC().Format("2006-01-02 15:04"), used, revoked)
				}
				return w.Flush()
			})
		},
	}
	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Stop a key from opening the API (within seconds on every server)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd, func(ctx context.Context, st *store.Store) error {
				k, err := st.RevokeAPIKey(ctx, args[0])
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "revoked %s (%s, %s)\n", k.ID, k.Actor, k.Role)
				return nil
			})
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}
