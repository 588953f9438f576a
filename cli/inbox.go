package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cmo-dev/cmo/config"
)

// newInboxCmd is the reply inbox from the terminal: the same API the web
// tools use, so a community manager on call can list, assign, answer and
// close items without leaving it.
func newInboxCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "inbox", Short: "List, assign, answer and close the mentions that need a reply"}
	var apiURL string
	var asJSON bool
	cmd.PersistentFlags().StringVar(&apiURL, "api", os.Getenv(config.EnvAPIURL), "base URL of the cmo API (default "+config.EnvAPIURL+" or http://127.0.0.1:8080)")
	cmd.PersistentFlags().BoolVar(&asJSON, "json", false, "print the API's JSON answer")
	keyFlag := apiKeyFlag(cmd, true)
	client := func() *apiClient {
		base := apiURL
		if base == "" {
			base = "http://127.0.0.1" + config.DefaultHTTPAddr
		}
		key, err := resolveAPIKey(*keyFlag)
		return &apiClient{base: strings.TrimRight(base, "/"), http: apiHTTP(key), keyErr: err}
	}
	show := func(cmd *cobra.Command, v map[string]any) error {
		if asJSON {
			return printJSON(cmd.OutOrStdout(), v)
		}
		printItem(cmd.OutOrStdout(), v)
		return nil
	}

	var brand, status, assignee string
	var limit int
	list := &cobra.Command{
		Use:   "list",
		Short: "List a brand's items, the soonest due first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := url.Values{"status": {status}, "limit": {fmt.Sprint(limit)}}
			if assignee != "" {
				q.Set("assignee", assignee)
			}
			var out map[string]any
			if err := client().do(cmd.Context(), "GET", "/v1/brands/"+url.PathEscape(brand)+"/inbox?"+q.Encode(), nil, &out); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), out)
			}
			items, _ := out["items"].([]any)
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTATUS\tPRIORITY\tKIND\tDUE\tASSIGNEE\tAUTHOR\tTEXT")
			for _, it := range items {
				m := it.(map[string]any)
				mention, _ := m["mention"].(map[string]any)
				author, _ := mention["author"].(map[string]any)
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m["id"], m["status"], m["priority"], m["kind"], due(m),
					str(m["assignee"]), str(author["handle"]), clip(str(mention["text"]), 60))
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVar(&brand, "brand", "demo", "the brand")
	list.Flags().StringVar(&status, "status", "active", "active, open, assigned, overdue, awaiting_approval, replied, closed or \"\" for all")
	list.Flags().StringVar(&assignee, "assignee", "", "only the items assigned to this person")
	list.Flags().IntVar(&limit, "limit", 50, "at most this many items (1-500)")

	get := &cobra.Command{
		Use:   "show ID",
		Short: "Show an item: its mention, deadline, replies and timeline",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var out map[string]any
			if err := client().do(cmd.Context(), "GET", "/v1/inbox/"+url.PathEscape(args[0]), nil, &out); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), out)
			}
			printItem(cmd.OutOrStdout(), out)
			for _, e := range asList(out["events"]) {
				fmt.Fprintf(cmd.OutOrStdout(), "  %s  %-14s %s %s\n", str(e["at"]), str(e["kind"]), str(e["actor"]), str(e["detail"]))
			}
			return nil
		},
	}

	var actor string
	post := func(use, short, path string, body func(args []string) (map[string]any, error)) *cobra.Command {
		c := &cobra.Command{
			Use: use, Short: short, Args: cobra.MinimumNArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				b, err := body(args)
				if err != nil {
					return err
				}
				if actor != "" {
					b["actor"] = actor
				}
				var out map[string]any
				if err := client().do(cmd.Context(), "POST", "/v1/inbox/"+url.PathEscape(args[0])+"/"+path, b, &out); err != nil {
					return err
				}
				return show(cmd, out)
			},
		}
		c.Flags().StringVar(&actor, "actor", "", "who decides; the API key's holder, so only needed to check it")
		return c
	}
	var to string
	assign := post("assign ID --to PERSON", "Give an item to someone", "assign", func([]string) (map[string]any, error) {
		if to == "" {
			return nil, fmt.Errorf("--to is required: who answers")
		}
		return map[string]any{"assignee": to}, nil
	})
	assign.Flags().StringVar(&to, "to", "", "who answers")
	var channel string
	reply := post("reply ID TEXT...", "Answer an item, threaded to the mention (held for approval when the brand asks)", "reply",
		func(args []string) (map[string]any, error) {
			text := strings.TrimSpace(strings.Join(args[1:], " "))
			if text == "" {
				return nil, fmt.Errorf("the reply's text is missing: cmo inbox reply ID \"Sorry, …\"")
			}
			b := map[string]any{"text": text}
			if channel != "" {
				b["channel"] = channel
			}
			return b, nil
		})
	reply.Flags().StringVar(&channel, "channel", "", "answer from this channel of the brand instead of the item's own")
	var reject bool
	var comment string
	approve := post("approve ID", "Approve (or with --reject, turn down) the reply waiting for approval", "approval",
		func([]string) (map[string]any, error) {
			d := "approve"
			if reject {
				d = "reject"
			}
			return map[string]any{"decision": d, "comment": comment}, nil
		})
	approve.Flags().BoolVar(&reject, "reject", false, "turn the reply down")
	approve.Flags().StringVar(&comment, "comment", "", "why")
	var reason string
	closeCmd := post("close ID", "Close an item", "close", func([]string) (map[string]any, error) {
		return map[string]any{"reason": reason}, nil
	})
	closeCmd.Flags().StringVar(&reason, "reason", "", "how it was resolved")

	var from, until string
	kpis := &cobra.Command{
		Use:   "kpis",
		Short: "Customer-care KPIs: first-response and resolution times, per channel, overdue items",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := url.Values{}
			if from != "" {
				q.Set("from", from)
			}
			if until != "" {
				q.Set("to", until)
			}
			var out map[string]any
			if err := client().do(cmd.Context(), "GET", "/v1/brands/"+url.PathEscape(brand)+"/inbox/kpis?"+q.Encode(), nil, &out); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), out)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "CHANNEL\tITEMS\tANSWERED\tFIRST RESPONSE (avg, p50, p90)\tRESOLVED\tRESOLUTION (avg)\tLATE\tOVERDUE NOW")
			rows := append(asList(out["channels"]), asMap(out["total"]))
			for i, r := range rows {
				name := str(r["channel"])
				if i == len(rows)-1 {
					name = "total"
				}
				fmt.Fprintf(tw, "%s\t%v\t%v\t%s, %s, %s\t%v\t%s\t%v\t%v\n", name, num(r["items"]), num(r["responded"]),
					secs(r["first_response_avg_seconds"]), secs(r["first_response_p50_seconds"]), secs(r["first_response_p90_seconds"]),
					num(r["resolved"]), secs(r["resolution_avg_seconds"]), num(r["breached"]), num(r["overdue"]))
			}
			return tw.Flush()
		},
	}
	kpis.Flags().StringVar(&brand, "brand", "demo", "the brand")
	kpis.Flags().StringVar(&from, "from", "", "items opened from (RFC 3339; default 30 days ago)")
	kpis.Flags().StringVar(&until, "to", "", "items opened before (RFC 3339; default now)")

	cmd.AddCommand(list, get, assign, reply, approve, closeCmd, kpis)
	return cmd
}

// apiClient calls the cmo API and turns problem+json answers into errors
// that name the field.
type apiClient struct {
	base string
	http *http.Client
	// keyErr says why no API key was found; the first call reports it.
	keyErr error
}

func (c *apiClient) do(ctx context.Context, method, path string, body, out any) error {
	if c.keyErr != nil {
		return c.keyErr
	}
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var p struct {
			Detail string `json:"detail"`
			Field  string `json:"field"`
		}
		if json.Unmarshal(raw, &p) == nil && p.Detail != "" {
			if p.Field != "" {
				return fmt.Errorf("%s (%s): %s", resp.Status, p.Field, p.Detail)
			}
			return fmt.Errorf("%s: %s", resp.Status, p.Detail)
		}
		return fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	return json.Unmarshal(raw, out)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func printItem(w io.Writer, m map[string]any) {
	mention := asMap(m["mention"])
	author := asMap(mention["author"])
	fmt.Fprintf(w, "%s  %s %s %s, due %s\n", m["id"], str(m["status"]), str(m["priority"]), str(m["kind"]), due(m))
	fmt.Fprintf(w, "  %s (%v followers) on %s: %s\n", str(author["handle"]), num(author["followers"]), str(m["source"]), str(mention["text"]))
	if a := str(m["assignee"]); a != "" {
		fmt.Fprintf(w, "  assigned to %s\n", a)
	}
	if d := asMap(m["draft"]); len(d) > 0 {
		fmt.Fprintf(w, "  reply by %s waiting for approval: %s\n", str(d["actor"]), str(d["text"]))
	}
	for _, r := range asList(m["reply_posts"]) {
		fmt.Fprintf(w, "  replied by %s: %s %s\n", str(r["actor"]), str(r["text"]), str(r["url"]))
	}
	if v, ok := m["first_response_seconds"]; ok {
		fmt.Fprintf(w, "  first response after %s\n", secs(v))
	}
	if v, ok := m["resolution_seconds"]; ok {
		fmt.Fprintf(w, "  closed after %s by %s: %s\n", secs(v), orDash(str(m["closed_by"])), str(m["close_reason"]))
	}
}

func due(m map[string]any) string {
	t, err := time.Parse(time.RFC3339Nano, str(m["due_at"]))
	if err != nil {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04")
}

func secs(v any) string {
	f, ok := v.(float64)
	if !ok {
		return "-"
	}
	return time.Duration(f * float64(time.Second)).Round(time.Second).String()
}

func num(v any) any {
	if v == nil {
		return 0
	}
	return v
}

func str(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func asList(v any) []map[string]any {
	l, _ := v.([]any)
	out := make([]map[string]any, 0, len(l))
	for _, x := range l {
		if m, ok := x.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}
