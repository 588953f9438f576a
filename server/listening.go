package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/cmo-dev/cmo/listening"
	"github.com/cmo-dev/cmo/playbooks"
	"github.com/cmo-dev/cmo/store"
	"github.com/cmo-dev/cmo/worker"
	"github.com/cmo-dev/cmo/workflows"
)

// overviewLengths are the windows the listening overview always shows,
// besides each crisis playbook's own.
var overviewLengths = []time.Duration{15 * time.Minute, time.Hour, 24 * time.Hour}

// ListeningRequest replaces a brand's listening set-up.
type ListeningRequest struct {
	Topics          map[string][]string `json:"topics"`
	Competitors     map[string][]string `json:"competitors"`
	ExpectedPerHour float64             `json:"expected_per_hour"`
	// CrisisPlaybooks the brand's monitor runs; absent or null means all.
	CrisisPlaybooks []string `json:"crisis_playbooks"`
}

func (s *Server) putListening(c echo.Context) error {
	b, err := s.brandOr404(c)
	if err != nil {
		return err
	}
	var req ListeningRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	for i, name := range req.CrisisPlaybooks {
		p, ok := s.d.Playbooks.Get(name)
		if !ok || p.Kind != playbooks.KindCrisis {
			return invalidField(fmt.Sprintf("crisis_playbooks[%d]", i), "no crisis playbook named %q", name)
		}
	}
	cfg := &listening.Config{Topics: req.Topics, Competitors: req.Competitors, ExpectedPerHour: req.ExpectedPerHour}
	if err := s.d.Store.SetListening(c.Request().Context(), b.ID, cfg, req.CrisisPlaybooks); err != nil {
		var fe *listening.FieldError
		if errors.As(err, &fe) {
			return invalidField(fe.Field, "%s", fe.Message)
		}
		return err
	}
	if s.d.Temporal != nil {
		ctx, cancel := context.WithTimeout(c.Request().Context(), 5*time.Second)
		defer cancel()
		if err := s.d.Temporal.SignalWorkflow(ctx, workflows.MonitorWorkflowID(b.ID), "", workflows.SignalReload, nil); err != nil {
			s.d.Log.Warn("reload monitor", "brand", b.ID, "error", err)
		}
	}
	return s.getListening(c)
}

// getListening shows what the brand's monitor sees: the windows of every
// scope, the hour-of-day baselines, the loudest authors, the monitor's
// own state and the latest crises.
func (s *Server) getListening(c echo.Context) error {
	ctx := c.Request().Context()
	b, err := s.brandOr404(c)
	if err != nil {
		return err
	}
	loc, err := time.LoadLocation(b.Timezone)
	if err != nil {
		return err
	}
	cfg, enabled, err := s.d.Store.Listening(ctx, b.ID)
	if err != nil {
		return s.storeError(err)
	}
	lengths := slices.Clone(overviewLengths)
	var crisisPlaybooks []string
	for _, p := range s.d.Playbooks.List() {
		if p.Kind != playbooks.KindCrisis || (enabled != nil && !slices.Contains(enabled, p.Name)) {
			continue
		}
		crisisPlaybooks = append(crisisPlaybooks, p.Name)
		if !slices.Contains(lengths, p.Window.D()) {
			lengths = append(lengths, p.Window.D())
		}
	}
	slices.Sort(lengths)
	now := s.d.Now()
	from, to := listening.Span(now, slices.Max(lengths))
	buckets, err := s.d.Store.Buckets(ctx, b.ID, from, to)
	if err != nil {
		return s.storeError(err)
	}
	bases, err := s.d.Store.Baselines(ctx, b.ID)
	if err != nil {
		return s.storeError(err)
	}
	type windowOut struct {
		Length string `json:"length"`
		listening.ScopedWindow
	}
	windows := []windowOut{}
	for _, w := range listening.Windows(buckets, bases, now, lengths, loc, cfg.Expected()) {
		windows = append(windows, windowOut{Length: w.Length.String(), ScopedWindow: w})
	}
	type baselineOut struct {
		ExpectedPerHour [24]float64 `json:"expected_per_hour"`
		HoursObserved   [24]int64   `json:"hours_observed"`
		Through         time.Time   `json:"through"`
	}
	baselines := map[string]baselineOut{}
	for scope, bl := range bases {
		out := baselineOut{HoursObserved: bl.N, Through: bl.Through}
		for h := range 24 {
			out.ExpectedPerHour[h] = cfg.Expected()
			if bl.N[h] > 0 {
				out.ExpectedPerHour[h] = float64(int64(bl.Mean[h]*100+0.5)) / 100
			}
		}
		baselines[scope] = out
	}
	authors := map[string][]store.TopAuthor{}
	dayFrom, dayTo := listening.Span(now, 24*time.Hour)
	scopes := []string{listening.ScopeBrand}
	for name := range cfg.Competitors {
		scopes = append(scopes, listening.CompetitorScope(name))
	}
	for _, scope := range scopes {
		if authors[scope], err = s.d.Store.TopAuthors(ctx, b.ID, scope, dayFrom, dayTo, 10); err != nil {
			return s.storeError(err)
		}
	}
	crises, err := s.d.Store.Crises(ctx, b.ID, 10)
	if err != nil {
		return s.storeError(err)
	}
	return c.JSON(http.StatusOK, map[string]any{
		"brand": b.ID, "at": now.UTC(), "timezone": b.Timezone, "setup": cfg, "crisis_playbooks": crisisPlaybooks,
		"windows": windows, "baselines": baselines, "top_authors_24h": authors, "monitor": s.monitorState(ctx, b.ID), "crises": crises,
		"care_7d": s.careOverview(ctx, b.ID),
	})
}

// monitorState asks the brand's monitor for its state; the overview still
// answers when Temporal does not.
func (s *Server) monitorState(ctx context.Context, brand string) any {
	if s.d.Temporal == nil {
		return map[string]string{"status": "unknown"}
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	v, err := s.d.Temporal.QueryWorkflow(ctx, workflows.MonitorWorkflowID(brand), "", workflows.QueryState)
	if err != nil {
		return map[string]string{"status": "unreachable", "error": err.Error()}
	}
	var st workflows.MonitorState
	if err := v.Get(&st); err != nil {
		return map[string]string{"status": "unreadable", "error": err.Error()}
	}
	return st
}

// SourceRequest registers a webhook source of mentions.
type SourceRequest struct {
	Name string `json:"name"`
}

func (s *Server) createMentionSource(c echo.Context) error {
	b, err := s.brandOr404(c)
	if err != nil {
		return err
	}
	var req SourceRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if !playbooks.ValidID(req.Name) {
		return invalidField("name", "source names are 1-63 lower-case letters, digits, '-' or '_', got %q", req.Name)
	}
	secret, err := s.d.Store.CreateMentionSource(c.Request().Context(), req.Name, b.ID)
	if errors.Is(err, store.ErrExists) {
		return conflict("name", "a mention source named %q exists", req.Name)
	}
	if err != nil {
		return s.storeError(err)
	}
	return c.JSON(http.StatusCreated, map[string]any{
		"name": req.Name, "brand": b.ID, "secret": secret, "url": "/v1/hooks/mentions/" + req.Name,
		"signing": fmt.Sprintf("%s: Unix seconds; %s: v1=hex(HMAC-SHA256(secret, timestamp + \".\" + body)); deliveries older than %d s are refused",
			listening.HeaderTimestamp, listening.HeaderSignature, int(listening.SignatureTolerance.Seconds())),
	})
}

// startMonitor makes sure a new brand is watched.
func (s *Server) startMonitor(ctx context.Context, brand string) {
	if s.d.Temporal == nil {
		return
	}
	if err := worker.StartMonitor(ctx, s.d.Temporal, s.d.TaskQueue, brand, workflows.MonitorInput{Interval: s.d.MonitorInterval}); err != nil {
		s.d.Log.Warn("start monitor", "brand", brand, "error", err)
	}
}
