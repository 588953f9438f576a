package playbooks

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"text/template"
)

// Rendered is a content step's text for one channel.
type Rendered struct {
	ChannelID string `json:"channel_id"`
	Channel   string `json:"channel"`
	Platform  string `json:"platform"`
	Text      string `json:"text"`
	// Media are the attachments, URLs rendered.
	Media []MediaRef `json:"media,omitempty"`
}

// Target is a resolved channel that content is rendered for.
type Target struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Platform string `json:"platform"`
}

// Render produces the text of a content step for each target. It is pure
// and deterministic, so workflows may call it directly: the same plan and
// parameters always render the same bytes, which is what approvals are
// bound to (see ContentHash).
func Render(cs *ContentStep, params map[string]any, targets []Target) ([]Rendered, error) {
	out := make([]Rendered, 0, len(targets))
	for _, t := range targets {
		src := cs.Template
		if v, ok := cs.Variants[t.Name]; ok {
			src = v
		} else if v, ok := cs.Variants[t.Platform]; ok {
			src = v
		}
		tpl, err := template.New("content").Option("missingkey=error").Parse(src)
		if err != nil {
			return nil, fmt.Errorf("parse template: %w", err)
		}
		var b strings.Builder
		if err := tpl.Execute(&b, params); err != nil {
			return nil, fmt.Errorf("render for %s: %w", t.Name, err)
		}
		text := strings.TrimSpace(b.String())
		for _, l := range cs.Links {
			lt, err := template.New("link").Option("missingkey=error").Parse(l)
			if err != nil {
				return nil, fmt.Errorf("parse link: %w", err)
			}
			var lb strings.Builder
			if err := lt.Execute(&lb, params); err != nil {
				return nil, fmt.Errorf("render link for %s: %w", t.Name, err)
			}
			if link := strings.TrimSpace(lb.String()); !strings.Contains(text, link) {
				text += " " + link
			}
		}
		if len(cs.Hashtags) > 0 {
			tags := make([]string, len(cs.Hashtags))
			for i, h := range cs.Hashtags {
				tags[i] = "#" + h
			}
			text += "\n\n" + strings.Join(tags, " ")
		}
		var media []MediaRef
		for _, m := range cs.Media {
			mt, err := template.New("media").Option("missingkey=error").Parse(m.URL)
			if err != nil {
				return nil, fmt.Errorf("parse media URL: %w", err)
			}
			var mb strings.Builder
			if err := mt.Execute(&mb, params); err != nil {
				return nil, fmt.Errorf("render media URL for %s: %w", t.Name, err)
			}
			media = append(media, MediaRef{URL: strings.TrimSpace(mb.String()), Alt: m.Alt})
		}
		out = append(out, Rendered{ChannelID: t.ID, Channel: t.Name, Platform: t.Platform, Text: text, Media: media})
	}
	return out, nil
}

// ContentHash identifies exactly what was rendered, per channel. An approval
// names the hash it approves, so editing the content voids it.
func ContentHash(rs []Rendered) string {
	sorted := append([]Rendered(nil), rs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].ChannelID < sorted[j].ChannelID })
	h := sha256.New()
	for _, r := range sorted {
		fmt.Fprintf(h, "%s\x00%d\x00%s\x00", r.ChannelID, len(r.Text), r.Text)
		// Attachments are part of what is approved; posts without any
		// hash as they always did.
		for _, m := range r.Media {
			fmt.Fprintf(h, "m\x00%s\x00%s\x00", m.URL, m.Alt)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}
