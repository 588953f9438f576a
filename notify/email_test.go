package notify_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cmo-dev/cmo/internal/smtptest"
	"github.com/cmo-dev/cmo/notify"
)

func emailRoute(addrs ...string) notify.Route {
	return notify.Route{Brand: "acme", Target: "email:comms-leads", Kind: notify.Email, Addresses: addrs}
}

var crisisMail = notify.Message{
	ID: "crisis-1/page-2-1/email:comms-leads/5f1a", Brand: "acme", Campaign: "crisis-1", Step: "page-2-1",
	Target: "email:comms-leads", Subject: "Crisi: resposta pública ràpida — acme",
	Text: "Pic de mencions negatives (60%).\nConfirmeu la crisi crisis-1.", Severity: "high", Incident: "crisis-1",
	Link: "https://cmo.example/crises/crisis-1",
}

func TestEmailIsDeliveredWithProperHeaders(t *testing.T) {
	mb := smtptest.New(t, "", "")
	at := time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)
	s := &notify.EmailSender{Config: notify.SMTPConfig{Addr: mb.Addr, From: "cmo <cmo@acme.example>"}, Now: func() time.Time { return at }}
	route := emailRoute("Núria Puig <nuria@acme.example>", "press@acme.example")
	require.NoError(t, s.Send(context.Background(), route, crisisMail))
	require.NoError(t, s.Send(context.Background(), route, crisisMail), "a retry sends again, under the same Message-ID")

	mails := mb.Mails()
	require.Len(t, mails, 2)
	got := mails[0]
	require.Equal(t, "cmo@acme.example", got.From)
	require.Equal(t, []string{"nuria@acme.example", "press@acme.example"}, got.To)

	msg, err := mail.ReadMessage(bytes.NewReader(got.Data))
	require.NoError(t, err)
	h := msg.Header
	require.NotEqual(t, crisisMail.Subject, h.Get("Subject"), "non-ASCII subjects travel encoded")
	subject, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
	require.NoError(t, err)
	require.Equal(t, crisisMail.Subject, subject)
	to, err := h.AddressList("To")
	require.NoError(t, err)
	require.Equal(t, []*mail.Address{{Name: "Núria Puig", Address: "nuria@acme.example"}, {Address: "press@acme.example"}}, to)
	from, err := h.AddressList("From")
	require.NoError(t, err)
	require.Equal(t, []*mail.Address{{Name: "cmo", Address: "cmo@acme.example"}}, from)
	date, err := h.Date()
	require.NoError(t, err)
	require.True(t, at.Equal(date))
	require.Equal(t, notify.MessageID(crisisMail, "cmo@acme.example"), h.Get("Message-ID"))
	require.Regexp(t, `^<[0-9a-f]{32}@acme\.example>$`, h.Get("Message-ID"))
	require.Equal(t, "text/plain; charset=utf-8", h.Get("Content-Type"))
	require.Equal(t, "1.0", h.Get("MIME-Version"))

	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	require.NoError(t, err)
	require.Equal(t, "Pic de mencions negatives (60%).\r\nConfirmeu la crisi crisis-1.\r\n\r\n"+
		"Severity: high\r\nIncident: crisis-1\r\nLink: https://cmo.example/crises/crisis-1\r\n", string(body))

	again, err := mail.ReadMessage(bytes.NewReader(mails[1].Data))
	require.NoError(t, err)
	require.Equal(t, h.Get("Message-ID"), again.Header.Get("Message-ID"))
}

func TestEmailSubjectDefaultsToTheFirstLine(t *testing.T) {
	mb := smtptest.New(t, "", "")
	s := &notify.EmailSender{Config: notify.SMTPConfig{Addr: mb.Addr, From: "cmo@acme.example"}}
	require.NoError(t, s.Send(context.Background(), emailRoute("press@acme.example"), notify.Message{ID: "k", Text: "Campaign launched\nDetails follow.", Severity: "low"}))
	msg, err := mail.ReadMessage(bytes.NewReader(mb.Mails()[0].Data))
	require.NoError(t, err)
	require.Equal(t, "[LOW] Campaign launched", msg.Header.Get("Subject"))
}

func TestEmailLogsInWithPlainAuth(t *testing.T) {
	mb := smtptest.New(t, "cmo", "s3cret-pass")
	cfg := notify.SMTPConfig{Addr: mb.Addr, From: "cmo@acme.example", Username: "cmo", Password: "s3cret-pass"}
	require.NoError(t, (&notify.EmailSender{Config: cfg}).Send(context.Background(), emailRoute("press@acme.example"), crisisMail))
	require.Len(t, mb.Mails(), 1)

	cfg.Password = "wrong-pass"
	err := (&notify.EmailSender{Config: cfg}).Send(context.Background(), emailRoute("press@acme.example"), crisisMail)
	ne := asNotifyError(t, err)
	require.Equal(t, 535, ne.Status)
	require.True(t, ne.Permanent)
	require.NotContains(t, err.Error(), "wrong-pass")

	cfg.Username, cfg.Password = "", ""
	err = (&notify.EmailSender{Config: cfg}).Send(context.Background(), emailRoute("press@acme.example"), crisisMail)
	require.Equal(t, 530, asNotifyError(t, err).Status)
	require.Len(t, mb.Mails(), 1)
}

func TestEmailRefusedRecipients(t *testing.T) {
	mb := smtptest.New(t, "", "")
	s := &notify.EmailSender{Config: notify.SMTPConfig{Addr: mb.Addr, From: "cmo@acme.example"}}

	// A mailbox that is full for now: nothing goes out, the retry sends
	// to everyone.
	err := s.Send(context.Background(), emailRoute("press@acme.example", "full@acme.example"), crisisMail)
	ne := asNotifyError(t, err)
	require.Equal(t, 452, ne.Status)
	require.False(t, ne.Permanent)
	require.Empty(t, mb.Mails())

	// An address that does not exist: the others get the mail, and the
	// failure is permanent so no retry mails them twice.
	err = s.Send(context.Background(), emailRoute("press@acme.example", "nobody@acme.example"), crisisMail)
	ne = asNotifyError(t, err)
	require.Equal(t, 550, ne.Status)
	require.True(t, ne.Permanent)
	require.Contains(t, err.Error(), "nobody@acme.example")
	mails := mb.Mails()
	require.Len(t, mails, 1)
	require.Equal(t, []string{"press@acme.example"}, mails[0].To)

	err = s.Send(context.Background(), emailRoute("nobody@acme.example"), crisisMail)
	require.True(t, notify.IsPermanent(err))
	require.Len(t, mb.Mails(), 1)
}

func TestEmailServerDownIsTransient(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	err = (&notify.EmailSender{Config: notify.SMTPConfig{Addr: addr, From: "cmo@acme.example"}}).
		Send(context.Background(), emailRoute("press@acme.example"), crisisMail)
	var ne *notify.Error
	require.True(t, errors.As(err, &ne), "%v", err)
	require.False(t, ne.Permanent)
}

func TestEmailBadRouteIsPermanent(t *testing.T) {
	s := &notify.EmailSender{Config: notify.SMTPConfig{Addr: "127.0.0.1:1", From: "cmo@acme.example"}}
	require.True(t, notify.IsPermanent(s.Send(context.Background(), emailRoute("not an address"), crisisMail)))
	require.True(t, notify.IsPermanent(s.Send(context.Background(), emailRoute(), crisisMail)))
}
