package cli

import (
	"github.com/cmo-dev/cmo/config"
	"github.com/cmo-dev/cmo/notify"
)

// notifiers builds the senders that deliver notifications: Slack,
// PagerDuty and signed webhooks always (a brand's routes say where), e-mail
// only when a mail server is configured.
func notifiers(cfg config.Config) notify.Senders {
	o := notify.Options{PagerDutyURL: cfg.PagerDutyURL}
	if cfg.SMTPAddr != "" {
		o.SMTP = &notify.SMTPConfig{Addr: cfg.SMTPAddr, From: cfg.SMTPFrom, Username: cfg.SMTPUsername, Password: cfg.SMTPPassword}
	}
	return notify.New(o)
}
