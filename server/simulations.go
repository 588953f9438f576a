package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/cmo-dev/cmo/listening"
	"github.com/cmo-dev/cmo/playbooks"
	"github.com/cmo-dev/cmo/simulate"
)

// SimulationRequest backtests one crisis playbook, or two side by side,
// on mentions sent in the request.
type SimulationRequest struct {
	// Playbook names a library playbook; YAML, when given, is one sent
	// whole (not yet in the library).
	Playbook    string              `json:"playbook"`
	YAML        string              `json:"yaml"`
	Compare     string              `json:"compare"`
	CompareYAML string              `json:"compare_yaml"`
	Mentions    []listening.Mention `json:"mentions"`
	AckAfter    string              `json:"ack_after"`
	Interval    string              `json:"interval"`
	Tail        string              `json:"tail"`
	Timezone    string              `json:"timezone"`
	Listening   *listening.Config   `json:"listening"`
	Posts       []simulate.Post     `json:"posts"`
}

// postSimulation answers POST /v1/simulations with the timelines.
func (s *Server) postSimulation(c echo.Context) error {
	body, err := s.readBody(c, MaxMentionsBody)
	if err != nil {
		return err
	}
	var req SimulationRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return bodyProblem(err)
	}
	if len(req.Mentions) == 0 {
		return invalidField("mentions", "mentions are required: the stream to replay")
	}
	if len(req.Mentions) > MaxMentionsPerRequest {
		return invalidField("mentions", "at most %d mentions per simulation; use cmo simulate for more", MaxMentionsPerRequest)
	}
	o := simulate.Options{Location: time.UTC, Listening: req.Listening, Posts: req.Posts}
	if req.Timezone != "" {
		if o.Location, err = time.LoadLocation(req.Timezone); err != nil {
			return invalidField("timezone", "unknown time zone %q", req.Timezone)
		}
	}
	for _, d := range []struct {
		field, v string
		to       *time.Duration
	}{{"ack_after", req.AckAfter, &o.AckAfter}, {"interval", req.Interval, &o.Interval}, {"tail", req.Tail, &o.Tail}} {
		if d.v == "" {
			continue
		}
		if *d.to, err = time.ParseDuration(d.v); err != nil || *d.to < 0 {
			return invalidField(d.field, "%s must be a duration like 15m, got %q", d.field, d.v)
		}
	}
	if o.Listening != nil {
		if err := o.Listening.Validate(); err != nil {
			var fe *listening.FieldError
			if errors.As(err, &fe) {
				return invalidField("listening."+fe.Field, "%s", fe.Message)
			}
			return err
		}
	}
	plans := []*playbooks.Plan{}
	for _, ref := range []struct{ field, name, yaml string }{{"playbook", req.Playbook, req.YAML}, {"compare", req.Compare, req.CompareYAML}} {
		if ref.name == "" && ref.yaml == "" {
			if ref.field == "playbook" {
				return invalidField("playbook", "playbook (a library name) or yaml is required")
			}
			continue
		}
		p, err := s.simulationPlan(ref.field, ref.name, ref.yaml)
		if err != nil {
			return err
		}
		plans = append(plans, p)
	}
	for i, m := range req.Mentions {
		// Checked on a copy: the simulation prepares its own, with the
		// lexicon where the producer gave no sentiment.
		m.Brand = "simulated"
		m.Topics = append([]string(nil), m.Topics...)
		if m.Sentiment != nil {
			sent := *m.Sentiment
			m.Sentiment = &sent
		}
		if err := listening.Prepare(&m, nil, nil, m.CreatedAt); err != nil {
			var fe *listening.FieldError
			if errors.As(err, &fe) {
				return invalidField(fmt.Sprintf("mentions[%d].%s", i, fe.Field), "%s", fe.Message)
			}
			return err
		}
	}
	results := []simulate.Result{}
	for _, p := range plans {
		res, err := simulate.Run(c.Request().Context(), p, req.Mentions, o)
		if err != nil {
			return err
		}
		results = append(results, res)
	}
	return c.JSON(http.StatusOK, map[string]any{"results": results})
}

func (s *Server) simulationPlan(field, name, yaml string) (*playbooks.Plan, error) {
	var p *playbooks.Plan
	if yaml != "" {
		var err error
		if p, err = playbooks.Parse(field+".yaml", []byte(yaml)); err != nil {
			if es, ok := playbooks.AsErrors(err); ok {
				return nil, invalidField(field+"_yaml", "%s", es.Error())
			}
			return nil, err
		}
	} else {
		var ok bool
		if p, ok = s.d.Playbooks.Get(name); !ok {
			return nil, invalidField(field, "no playbook named %q", name)
		}
	}
	if p.Kind != playbooks.KindCrisis {
		return nil, invalidField(field, "playbook %q is a %s playbook; only crisis playbooks can be simulated", p.Name, p.Kind)
	}
	return p, nil
}
