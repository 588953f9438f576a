package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cmo-dev/cmo/config"
	"github.com/cmo-dev/cmo/listening"
)

func newMentionsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "mentions", Short: "Work with the mentions cmo listens to"}
	var api, brand, format string
	var batch int
	var keyFlag *string
	imp := &cobra.Command{
		Use:   "import FILE",
		Short: "Import mentions from a CSV or NDJSON file through the API",
		Long: `Import mentions from a CSV file (with a header row; columns: ` + strings.Join(listening.CSVColumns, ", ") + `)
or from NDJSON / a JSON array (the API's format). The file is checked as it is
read and sent in batches; a batch the API cannot take yet (503) is sent again
after the time it asks for. Mentions already stored are counted as
duplicates, so an interrupted import can simply be run again.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if batch < 1 || batch > 50_000 {
				return fmt.Errorf("--batch must be from 1 to 50000, got %d", batch)
			}
			if api == "" {
				api = "http://127.0.0.1" + config.DefaultHTTPAddr
			}
			key, err := resolveAPIKey(*keyFlag)
			if err != nil {
				return err
			}
			im := &importer{api: strings.TrimRight(api, "/"), brand: brand, batch: batch, http: apiHTTP(key),
				progress: newProgress(cmd.ErrOrStderr())}
			return im.run(cmd.Context(), args[0], format, cmd.OutOrStdout())
		},
	}
	imp.Flags().StringVar(&api, "api", os.Getenv(config.EnvAPIURL), "base URL of the cmo API (default "+config.EnvAPIURL+" or http://127.0.0.1:8080)")
	imp.Flags().StringVar(&brand, "brand", "", "brand of mentions whose brand column is empty")
	keyFlag = apiKeyFlag(imp, false)
	imp.Flags().StringVar(&format, "format", "auto", "csv, ndjson (JSON array too) or auto (by file extension)")
	imp.Flags().IntVar(&batch, "batch", 5000, "mentions per request")
	cmd.AddCommand(imp)
	return cmd
}

type importer struct {
	api      string
	brand    string
	batch    int
	http     *http.Client
	progress *progress
	total    struct{ received, inserted, duplicates int }
}

func (im *importer) run(ctx context.Context, path, format string, out io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if format == "auto" {
		format = "ndjson"
		if strings.EqualFold(filepath.Ext(path), ".csv") {
			format = "csv"
		}
	}
	counted := &countingReader{r: f}
	im.progress.start(st.Size(), func() (int64, int, int) { return counted.n, im.total.received, im.total.inserted })
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	var lines []int // file line of each mention in the batch
	flush := func() error {
		if len(lines) == 0 {
			return nil
		}
		if err := im.send(ctx, buf.Bytes(), lines, path); err != nil {
			return err
		}
		buf.Reset()
		lines = lines[:0]
		return nil
	}
	add := func(m listening.Mention, line int) error {
		if m.Brand == "" {
			m.Brand = im.brand
		}
		if err := enc.Encode(m); err != nil {
			return err
		}
		lines = append(lines, line)
		if len(lines) >= im.batch {
			return flush()
		}
		return nil
	}
	switch format {
	case "csv":
		err = listening.DecodeCSV(counted, add)
	case "ndjson", "json":
		err = listening.DecodeJSON(counted, add)
	default:
		return fmt.Errorf("--format must be csv, ndjson or auto, got %q", format)
	}
	if err == nil {
		err = flush()
	}
	im.progress.stop()
	var ie *listening.ItemError
	if errors.As(err, &ie) && ie.Line > 0 && !strings.HasPrefix(err.Error(), path) {
		err = fmt.Errorf("%s:%d: %s", path, ie.Line, strings.TrimPrefix(ie.Error(), fmt.Sprintf("line %d: ", ie.Line)))
	}
	fmt.Fprintf(out, "%s: %d mentions read, %d new, %d already stored\n", path, im.total.received, im.total.inserted, im.total.duplicates)
	return err
}

var batchLine = regexp.MustCompile(`^line (\d+)`)

// send posts one batch, waiting and retrying while the API is unavailable.
// An error about the batch is reported at the mention's line in the file.
func (im *importer) send(ctx context.Context, body []byte, lines []int, path string) error {
	delay := time.Second
	for attempt := 1; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, im.api+"/v1/mentions", bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-ndjson")
		resp, err := im.http.Do(req)
		var raw []byte
		if err == nil {
			raw, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		switch {
		case err == nil && resp.StatusCode == http.StatusOK:
			var res struct{ Received, Inserted, Duplicates int }
			if err := json.Unmarshal(raw, &res); err != nil {
				return fmt.Errorf("unexpected answer from %s: %w", im.api, err)
			}
			im.total.received += res.Received
			im.total.inserted += res.Inserted
			im.total.duplicates += res.Duplicates
			return nil
		case err == nil && resp.StatusCode != http.StatusServiceUnavailable && resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode < 500:
			var p struct{ Field, Detail string }
			_ = json.Unmarshal(raw, &p)
			if m := batchLine.FindStringSubmatch(p.Detail); m != nil {
				if k, _ := strconv.Atoi(m[1]); k >= 1 && k <= len(lines) && lines[k-1] > 0 {
					return fmt.Errorf("%s:%d: %s", path, lines[k-1], strings.TrimPrefix(p.Detail, m[0]+": "))
				}
			}
			return fmt.Errorf("the API refused a batch (%d): %s", resp.StatusCode, strings.TrimSpace(string(raw)))
		}
		if attempt >= 10 {
			if err != nil {
				return fmt.Errorf("send batch: %w", err)
			}
			return fmt.Errorf("the API answered %d ten times: %s", resp.StatusCode, strings.TrimSpace(string(raw)))
		}
		wait := delay
		if err == nil {
			if s, convErr := strconv.Atoi(resp.Header.Get("Retry-After")); convErr == nil && s > 0 {
				wait = time.Duration(s) * time.Second
			}
		}
		im.progress.note(fmt.Sprintf("API unavailable, retrying in %s", wait))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		delay = min(2*delay, 30*time.Second)
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// progress draws a bar on a terminal, or a line every few seconds
// elsewhere, from a snapshot function polled off the import's path.
type progress struct {
	w     io.Writer
	tty   bool
	done  chan struct{}
	ended chan struct{}
	msg   chan string
}

func newProgress(w io.Writer) *progress {
	tty := false
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return &progress{w: w, tty: tty, msg: make(chan string, 8)}
}

func (p *progress) start(size int64, snap func() (read int64, received, inserted int)) {
	p.done, p.ended = make(chan struct{}), make(chan struct{})
	every := 5 * time.Second
	if p.tty {
		every = 200 * time.Millisecond
	}
	began := time.Now()
	go func() {
		defer close(p.ended)
		tick := time.NewTicker(every)
		defer tick.Stop()
		draw := func(final bool) {
			read, received, inserted := snap()
			frac := 1.0
			if size > 0 {
				frac = min(float64(read)/float64(size), 1)
			}
			rate := float64(received) / max(time.Since(began).Seconds(), 0.001)
			const width = 30
			bar := strings.Repeat("█", int(frac*width)) + strings.Repeat("░", width-int(frac*width))
			line := fmt.Sprintf("%s %5.1f%%  %d sent, %d new  %.0f mentions/s", bar, 100*frac, received, inserted, rate)
			if p.tty {
				fmt.Fprintf(p.w, "\r%s\x1b[K", line)
				if final {
					fmt.Fprintln(p.w)
				}
			} else {
				fmt.Fprintln(p.w, line)
			}
		}
		for {
			select {
			case <-p.done:
				draw(true)
				return
			case m := <-p.msg:
				if p.tty {
					fmt.Fprintf(p.w, "\r%s\x1b[K\n", m)
				} else {
					fmt.Fprintln(p.w, m)
				}
			case <-tick.C:
				draw(false)
			}
		}
	}()
}

func (p *progress) note(m string) {
	select {
	case p.msg <- m:
	default:
	}
}

func (p *progress) stop() {
	if p.done != nil {
		close(p.done)
		<-p.ended
		p.done = nil
	}
}
