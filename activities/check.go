package activities

import (
	"context"
	"fmt"

	"go.temporal.io/sdk/temporal"

	"github.com/cmo-dev/cmo/contentcheck"
	"github.com/cmo-dev/cmo/playbooks"
)

// CheckInput is drafted content and the rules of a check step.
type CheckInput struct {
	Rendered    []playbooks.Rendered `json:"rendered"`
	Media       int                  `json:"media,omitempty"`
	Languages   []string             `json:"languages,omitempty"`
	Required    []string             `json:"required,omitempty"`
	Banned      []string             `json:"banned,omitempty"`
	RequireLink bool                 `json:"require_link,omitempty"`
	Accept      []string             `json:"accept,omitempty"`
	Spelling    string               `json:"spelling,omitempty"`
}

// Finding is one problem the quality gate found in one channel's text.
type Finding struct {
	ChannelID string `json:"channel_id"`
	Channel   string `json:"channel"`
	Rule      string `json:"rule"`
	Severity  string `json:"severity"`
	Message   string `json:"message"`
	Word      string `json:"word,omitempty"`
	Offset    int    `json:"offset"`
}

// ContentChecker runs the quality gate on one channel's text.
type ContentChecker interface {
	CheckText(text, platform string, in CheckInput) ([]Finding, error)
}

// CheckContent runs the quality gate on every channel's text. Findings are
// data, not errors: the workflow decides what blocks.
func (a *Activities) CheckContent(ctx context.Context, in CheckInput) ([]Finding, error) {
	if a.Checker == nil {
		return nil, temporal.NewNonRetryableApplicationError("no content checker is configured", ErrTypePermanent, nil)
	}
	out := []Finding{}
	for _, rd := range in.Rendered {
		fs, err := a.Checker.CheckText(rd.Text, rd.Platform, in)
		if err != nil {
			return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("check %s: %v", rd.Channel, err), ErrTypePermanent, nil)
		}
		for _, f := range fs {
			f.ChannelID, f.Channel = rd.ChannelID, rd.Channel
			out = append(out, f)
		}
	}
	return out, nil
}

// Gate is the quality gate backed by package contentcheck.
type Gate struct{ C *contentcheck.Checker }

// CheckText checks one channel's text with the check step's rules.
func (g Gate) CheckText(text, platform string, in CheckInput) ([]Finding, error) {
	sev := contentcheck.Warn
	if in.Spelling == "block" {
		sev = contentcheck.Block
	}
	fs, err := g.C.Check(text, contentcheck.Rules{
		Platform: platform, Media: in.Media, RequireLink: in.RequireLink,
		RequiredWords: in.Required, BannedWords: in.Banned, Languages: in.Languages,
		AcceptWords: in.Accept, SpellingSeverity: sev,
	})
	if err != nil {
		return nil, err
	}
	out := make([]Finding, len(fs))
	for i, f := range fs {
		out[i] = Finding{Rule: f.Rule, Severity: string(f.Severity), Message: f.Message, Word: f.Word, Offset: f.Offset}
	}
	return out, nil
}
