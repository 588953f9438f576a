package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/cmo-dev/cmo/report"
	"github.com/cmo-dev/cmo/store"
)

// ReportView is GET /v1/campaigns/{id}/report as JSON: the report the
// report step stored, with the charts' series measured since.
type ReportView struct {
	report.Report
	Charts []report.Chart `json:"charts"`
}

// reportCSP lets the HTML report use its inline styles and nothing else:
// no script, no font, no image from anywhere.
const reportCSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// getReport answers the campaign's report as JSON (the default),
// Markdown or HTML, chosen by ?format= or else the Accept header.
func (s *Server) getReport(c echo.Context) error {
	ctx := c.Request().Context()
	id := c.Param("id")
	format, err := reportFormat(c)
	if err != nil {
		return err
	}
	raw, err := s.d.Store.Report(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("id", "campaign %q has no report yet", id)
	} else if err != nil {
		return err
	}
	var rep report.Report
	if err := json.Unmarshal(raw, &rep); err != nil {
		return fmt.Errorf("decode report of %s: %w", id, err)
	}
	charts, err := s.charts(ctx, id)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	switch format {
	case "markdown":
		if err := report.Markdown(&b, rep, charts); err != nil {
			return err
		}
		return c.Blob(http.StatusOK, "text/markdown; charset=utf-8", b.Bytes())
	case "html":
		if err := report.HTML(&b, rep, charts); err != nil {
			return err
		}
		h := c.Response().Header()
		h.Set("Content-Security-Policy", reportCSP)
		h.Set("X-Content-Type-Options", "nosniff")
		return c.HTMLBlob(http.StatusOK, b.Bytes())
	}
	return c.JSON(http.StatusOK, ReportView{Report: rep, Charts: charts})
}

func reportFormat(c echo.Context) (string, error) {
	switch f := c.QueryParam("format"); f {
	case "json", "html", "markdown":
		return f, nil
	case "md":
		return "markdown", nil
	case "":
	default:
		return "", invalidField("format", "format is json, markdown or html, got %q", f)
	}
	accept := c.Request().Header.Get("Accept")
	switch {
	case strings.Contains(accept, "text/html"):
		return "html", nil
	case strings.Contains(accept, "text/markdown"):
		return "markdown", nil
	}
	return "json", nil
}

// charts reads the campaign's time series: reach and engagement of its
// posts, clicks on its links, its channels' followers.
func (s *Server) charts(ctx context.Context, id string) ([]report.Chart, error) {
	totals, err := s.d.Store.MetricTotals(ctx, id)
	if err != nil {
		return nil, err
	}
	followers, err := s.d.Store.FollowerTotals(ctx, id)
	if err != nil {
		return nil, err
	}
	clicks, err := s.d.Store.ClicksByMinute(ctx, id)
	if err != nil {
		return nil, err
	}
	impressions := report.Series{Name: "impressions", Points: []report.Point{}}
	reach := report.Series{Name: "reach", Points: []report.Point{}}
	engagements := report.Series{Name: "engagements", Points: []report.Point{}}
	rate := report.Series{Name: "engagement rate", Points: []report.Point{}}
	for _, t := range totals {
		e := t.Likes + t.Reposts + t.Replies + t.Clicks
		impressions.Points = append(impressions.Points, report.Point{At: t.BatchAt, Value: float64(t.Impressions)})
		reach.Points = append(reach.Points, report.Point{At: t.BatchAt, Value: float64(t.Reach)})
		engagements.Points = append(engagements.Points, report.Point{At: t.BatchAt, Value: float64(e)})
		if t.Impressions > 0 {
			rate.Points = append(rate.Points, report.Point{At: t.BatchAt, Value: float64(e) / float64(t.Impressions)})
		}
	}
	// Clicks add up minute by minute, from nothing at the first measurement.
	linkClicks := report.Series{Name: "link clicks", Points: []report.Point{}}
	if len(totals) > 0 && (len(clicks) == 0 || totals[0].BatchAt.Before(clicks[0].Minute)) {
		linkClicks.Points = append(linkClicks.Points, report.Point{At: totals[0].BatchAt, Value: 0})
	}
	var sum int64
	for _, b := range clicks {
		sum += b.Clicks
		linkClicks.Points = append(linkClicks.Points, report.Point{At: b.Minute, Value: float64(sum)})
	}
	fol := report.Series{Name: "followers", Points: []report.Point{}}
	for _, f := range followers {
		fol.Points = append(fol.Points, report.Point{At: f.BatchAt, Value: float64(f.Followers)})
	}
	return []report.Chart{
		{Title: "Impressions, reach and engagements", Series: []report.Series{impressions, reach, engagements}},
		{Title: "Engagement rate", Series: []report.Series{rate}},
		{Title: "Link clicks", Series: []report.Series{linkClicks}},
		{Title: "Followers", Series: []report.Series{fol}, Tight: true},
	}, nil
}
