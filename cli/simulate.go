package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cmo-dev/cmo/config"
	"github.com/cmo-dev/cmo/listening"
	"github.com/cmo-dev/cmo/playbooks"
	"github.com/cmo-dev/cmo/simulate"
)

func newSimulateCmd() *cobra.Command {
	var playbook, mentions, compare, timezone, setup, posts string
	var ackAfter, interval, tail time.Duration
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "simulate --playbook FILE|NAME --mentions FILE",
		Short: "Backtest a crisis playbook on recorded mentions",
		Long: `Replay recorded mentions (NDJSON, a JSON array or CSV, as "cmo mentions import"
reads them) through the same brand monitor and crisis workflows that run in
production, in Temporal's test environment with time skipping, and print
when detection would have fired, how severity changed, which tier would have
been paged when, which scheduled posts a freeze would have held and when
the crisis would have resolved.

--compare runs a second playbook on the same stream and shows both side by
side. --ack-after acknowledges each crisis after that long (default: nobody
answers). --listening reads the brand's set-up (topics, competitors,
expected_per_hour) as GET /v1/brands/{brand}/listening answers it under
"setup"; --posts a JSON array of scheduled posts {id, at, channel, tags,
market}.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if playbook == "" || mentions == "" {
				return errors.New("--playbook and --mentions are required")
			}
			lib, err := playbooks.Load(os.Getenv(config.EnvPlaybooksDir))
			if err != nil {
				return err
			}
			loc, err := time.LoadLocation(timezone)
			if err != nil {
				return fmt.Errorf("--timezone: %w", err)
			}
			o := simulate.Options{Location: loc, AckAfter: ackAfter, Interval: interval, Tail: tail}
			if setup != "" {
				if o.Listening, err = readSetup(setup); err != nil {
					return err
				}
			}
			if posts != "" {
				raw, err := os.ReadFile(posts)
				if err != nil {
					return err
				}
				if err := json.Unmarshal(raw, &o.Posts); err != nil {
					return fmt.Errorf("%s: %w", posts, err)
				}
			}
			ms, err := readMentions(mentions)
			if err != nil {
				return err
			}
			plans := []string{playbook}
			if compare != "" {
				plans = append(plans, compare)
			}
			var results []simulate.Result
			for _, ref := range plans {
				p, err := planFrom(lib, ref)
				if err != nil {
					return err
				}
				bar := newSimProgress(cmd.ErrOrStderr(), p.Name)
				o.Progress = bar.update
				res, err := simulate.Run(cmd.Context(), p, ms, o)
				bar.done()
				if err != nil {
					return err
				}
				results = append(results, res)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{"results": results})
			}
			for i, r := range results {
				if i > 0 {
					fmt.Fprintln(out)
				}
				simulate.Text(out, r)
			}
			if len(results) == 2 {
				fmt.Fprintln(out)
				simulate.Compare(out, results[0], results[1])
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&playbook, "playbook", "", "crisis playbook: a YAML file or the name of one in the library")
	f.StringVar(&mentions, "mentions", "", "recorded mentions: .csv, or NDJSON / a JSON array")
	f.StringVar(&compare, "compare", "", "a second playbook to run on the same stream")
	f.DurationVar(&ackAfter, "ack-after", 0, "acknowledge each crisis after this long (0: nobody answers)")
	f.DurationVar(&interval, "interval", 0, "the monitor's tick (default 10s, as "+config.EnvMonitorInterval+")")
	f.DurationVar(&tail, "tail", 0, "how long to go on after the last mention, for crises to resolve (default 24h)")
	f.StringVar(&timezone, "timezone", "UTC", "the brand's time zone (the baseline is per hour of its day)")
	f.StringVar(&setup, "listening", "", "JSON file with the brand's listening set-up")
	f.StringVar(&posts, "posts", "", "JSON file with scheduled posts, to see which a freeze would hold")
	f.BoolVar(&asJSON, "json", false, "print the results as JSON")
	return cmd
}

// planFrom reads a playbook file, or takes one from the library by name.
func planFrom(lib *playbooks.Library, ref string) (*playbooks.Plan, error) {
	if strings.HasSuffix(ref, ".yaml") || strings.HasSuffix(ref, ".yml") || strings.ContainsRune(ref, os.PathSeparator) {
		src, err := os.ReadFile(ref)
		if err != nil {
			return nil, err
		}
		return playbooks.Parse(filepath.Base(ref), src)
	}
	p, ok := lib.Get(ref)
	if !ok {
		return nil, fmt.Errorf("no playbook named %q (known: %s)", ref, strings.Join(lib.Names(), ", "))
	}
	return p, nil
}

func readSetup(path string) (*listening.Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cfg := &listening.Config{}
	if err := json.Unmarshal(raw, cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

func readMentions(path string) ([]listening.Mention, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ms []listening.Mention
	add := func(m listening.Mention, _ int) error { ms = append(ms, m); return nil }
	if strings.EqualFold(filepath.Ext(path), ".csv") {
		err = listening.DecodeCSV(f, add)
	} else {
		err = listening.DecodeJSON(f, add)
	}
	var ie *listening.ItemError
	if errors.As(err, &ie) && ie.Line > 0 {
		return nil, fmt.Errorf("%s:%d: %s", path, ie.Line, strings.TrimPrefix(ie.Error(), fmt.Sprintf("line %d: ", ie.Line)))
	}
	return ms, err
}

// simProgress shows how far the simulated clock has gone, on a terminal;
// elsewhere it stays quiet.
type simProgress struct {
	w    io.Writer
	name string
	tty  bool
	last time.Time
}

func newSimProgress(w io.Writer, name string) *simProgress {
	p := &simProgress{w: w, name: name}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

func (p *simProgress) update(done, total time.Duration) {
	if !p.tty || time.Since(p.last) < 200*time.Millisecond {
		return
	}
	p.last = time.Now()
	frac := min(float64(done)/float64(max(total, 1)), 1)
	const width = 30
	fmt.Fprintf(p.w, "\r%s %s %5.1f%% of %s simulated\x1b[K", p.name,
		strings.Repeat("█", int(frac*width))+strings.Repeat("░", width-int(frac*width)), 100*frac, total.Round(time.Hour))
}

func (p *simProgress) done() {
	if p.tty {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}
