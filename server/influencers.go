package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/cmo-dev/cmo/listening"
	"github.com/cmo-dev/cmo/playbooks"
	"github.com/cmo-dev/cmo/store"
)

// Opinion-leader defaults: the window ranked, and the shortlist an
// outreach must come from.
const (
	defaultInfluencerWindow = 7 * 24 * time.Hour
	maxInfluencerWindow     = 90 * 24 * time.Hour
	shortlistWindow         = 30 * 24 * time.Hour
	shortlistSize           = 50
	// OutreachPlaybook is the playbook an outreach launches.
	OutreachPlaybook = "influencer-outreach"
)

func (s *Server) registerInfluencerRoutes(v1 *echo.Group) {
	v1.GET("/brands/:brand/influencers", s.listInfluencers)
	v1.GET("/brands/:brand/influencers/:handle", s.getInfluencer)
	v1.POST("/brands/:brand/influencers/:handle/outreach", s.influencerOutreach)
}

// listInfluencers answers GET /v1/brands/{brand}/influencers?window=7d&limit=10&competitor=:
// the authors worth reaching, ranked by reach × engagement × relevance,
// for the brand and for each competitor (or the one named).
func (s *Server) listInfluencers(c echo.Context) error {
	ctx := c.Request().Context()
	b, err := s.brandOr404(c)
	if err != nil {
		return err
	}
	window, err := windowParam(c)
	if err != nil {
		return err
	}
	limit, err := intParam(c, "limit", 10, 1, 100)
	if err != nil {
		return err
	}
	cfg, _, err := s.d.Store.Listening(ctx, b.ID)
	if err != nil {
		return s.storeError(err)
	}
	competitors := make([]string, 0, len(cfg.Competitors))
	for name := range cfg.Competitors {
		competitors = append(competitors, name)
	}
	sort.Strings(competitors)
	only := c.QueryParam("competitor")
	if only != "" {
		if _, ok := cfg.Competitors[only]; !ok {
			return invalidField("competitor", "brand %s does not watch a competitor %q", b.ID, only)
		}
		competitors = []string{only}
	}
	to := s.d.Now()
	from := to.Add(-window)
	out := map[string]any{"brand": b.ID, "window": window.String(), "from": from.UTC(), "to": to.UTC(), "formula": store.InfluencerFormula}
	if only == "" {
		own, err := s.d.Store.Influencers(ctx, b.ID, "", from, to, len(cfg.Topics) > 0, limit)
		if err != nil {
			return s.storeError(err)
		}
		out["influencers"] = orEmpty(own)
	}
	byCompetitor := map[string][]store.Influencer{}
	for _, name := range competitors {
		ranked, err := s.d.Store.Influencers(ctx, b.ID, name, from, to, len(cfg.Topics) > 0, limit)
		if err != nil {
			return s.storeError(err)
		}
		byCompetitor[name] = orEmpty(ranked)
	}
	out["competitors"] = byCompetitor
	return c.JSON(http.StatusOK, out)
}

func orEmpty(in []store.Influencer) []store.Influencer {
	if in == nil {
		return []store.Influencer{}
	}
	return in
}

func windowParam(c echo.Context) (time.Duration, error) {
	v := c.QueryParam("window")
	if v == "" {
		return defaultInfluencerWindow, nil
	}
	d, err := playbooks.ParseDuration(v)
	if err != nil || d.D() < time.Hour || d.D() > maxInfluencerWindow {
		return 0, invalidField("window", "window is a duration from 1h to 90d such as 7d, got %q", v)
	}
	return d.D(), nil
}

func handleParam(c echo.Context) (string, error) {
	h, err := url.PathUnescape(c.Param("handle"))
	if err != nil || strings.TrimSpace(h) == "" {
		return "", invalidField("handle", "handle is the author's handle as mentions carry it, such as @ana")
	}
	return h, nil
}

// getInfluencer answers GET /v1/brands/{brand}/influencers/{handle}?window=:
// where an author stands for the brand and each competitor, and what they
// have said lately (their mentions, newest first) — how an opinion leader
// is followed before and after outreach.
func (s *Server) getInfluencer(c echo.Context) error {
	ctx := c.Request().Context()
	b, err := s.brandOr404(c)
	if err != nil {
		return err
	}
	handle, err := handleParam(c)
	if err != nil {
		return err
	}
	window, err := windowParam(c)
	if err != nil {
		return err
	}
	to := s.d.Now()
	from := to.Add(-window)
	standing, err := s.standing(c, b.ID, handle, from, to)
	if err != nil {
		return err
	}
	ms, err := s.d.Store.AuthorMentions(ctx, b.ID, handle, from, 50)
	if err != nil {
		return s.storeError(err)
	}
	if len(standing) == 0 && len(ms) == 0 {
		return notFound("handle", "%s did not mention %s or its competitors in the last %s", handle, b.ID, window)
	}
	if ms == nil {
		ms = []store.StoredMention{}
	}
	return c.JSON(http.StatusOK, map[string]any{"brand": b.ID, "handle": handle, "window": window.String(), "from": from.UTC(), "to": to.UTC(),
		"standing": standing, "mentions": ms})
}

// standing is an author's rank in each scope they wrote about, by scope
// ("brand", "competitor:x").
func (s *Server) standing(c echo.Context, brand, handle string, from, to time.Time) (map[string]store.Influencer, error) {
	ctx := c.Request().Context()
	cfg, _, err := s.d.Store.Listening(ctx, brand)
	if err != nil {
		return nil, s.storeError(err)
	}
	scopes := map[string]string{listening.ScopeBrand: ""}
	for name := range cfg.Competitors {
		scopes[listening.CompetitorScope(name)] = name
	}
	out := map[string]store.Influencer{}
	for scope, competitor := range scopes {
		in, err := s.d.Store.Influencer(ctx, brand, competitor, handle, from, to, len(cfg.Topics) > 0)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, s.storeError(err)
		}
		out[scope] = in
	}
	return out, nil
}

// OutreachRequest contacts a shortlisted opinion leader through the
// influencer-outreach playbook. Creator defaults to the handle.
type OutreachRequest struct {
	ID      string `json:"id"`
	Actor   string `json:"actor"`
	Creator string `json:"creator"`
	Liked   string `json:"liked"`
	Product string `json:"product"`
}

// influencerOutreach launches the influencer-outreach playbook for an
// author on the brand's shortlist (the top opinion leaders of the brand
// or a competitor over 30 days): the team is told who and why, the
// message is approved, posted, followed up once if unanswered. The launch
// is the one POST /v1/campaigns makes, answered the same way.
func (s *Server) influencerOutreach(c echo.Context) error {
	ctx := c.Request().Context()
	b, err := s.brandOr404(c)
	if err != nil {
		return err
	}
	handle, err := handleParam(c)
	if err != nil {
		return err
	}
	var req OutreachRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if err := bindActor(c, "actor", &req.Actor); err != nil {
		return err
	}
	if err := requireActor(req.Actor); err != nil {
		return err
	}
	if strings.TrimSpace(req.Product) == "" {
		return invalidField("product", "product is required: what we would like them to try")
	}
	if strings.TrimSpace(req.Liked) == "" {
		return invalidField("liked", "liked is required: what of theirs the team liked")
	}
	to := s.d.Now()
	from := to.Add(-shortlistWindow)
	cfg, _, err := s.d.Store.Listening(ctx, b.ID)
	if err != nil {
		return s.storeError(err)
	}
	why := ""
	scopes := []string{""}
	for name := range cfg.Competitors {
		scopes = append(scopes, name)
	}
	sort.Strings(scopes[1:])
	for _, competitor := range scopes {
		ranked, err := s.d.Store.Influencers(ctx, b.ID, competitor, from, to, len(cfg.Topics) > 0, shortlistSize)
		if err != nil {
			return s.storeError(err)
		}
		for i, in := range ranked {
			if in.Handle != handle {
				continue
			}
			of := b.ID
			if competitor != "" {
				of = "competitor " + competitor
			}
			why = fmt.Sprintf("#%d opinion leader of %s over 30 days: %d followers, %d mentions, score %.2f", i+1, of, in.Followers, in.Mentions, in.Score)
			break
		}
		if why != "" {
			break
		}
	}
	if why == "" {
		return invalidField("handle", "%s is not among the top %d opinion leaders of %s or its competitors over the last 30 days", handle, shortlistSize, b.ID)
	}
	creator := req.Creator
	if creator == "" {
		creator = strings.TrimPrefix(handle, "@")
	}
	params := map[string]any{"handle": handle, "creator": creator, "liked": req.Liked, "product": req.Product, "why": why}
	raw, err := json.Marshal(map[string]any{"id": req.ID, "brand": b.ID, "playbook": OutreachPlaybook, "author": req.Actor, "params": params,
		"tags": []string{"outreach"}})
	if err != nil {
		return err
	}
	c.Request().Body = io.NopCloser(bytes.NewReader(raw))
	c.Request().ContentLength = int64(len(raw))
	return s.launchCampaign(c)
}
