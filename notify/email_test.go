package notify_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"

	"github.com/cmo-dev/cmo/notify"
)

// mailbox is a real SMTP server (go-smtp) that keeps what it accepts and
// refuses some recipients the way mail servers do.
type mailbox struct {
	addr string
	// user and pass, when set, are required before MAIL FROM.
	user, pass string

	mu       sync.Mutex
	received []received
}

type received struct {
	from string
	to   []string
	data []byte
}

func newMailbox(t *testing.T, user, pass string) *mailbox {
	mb := &mailbox{user: user, pass: pass}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &session{mb: mb}, nil }))
	srv.Domain = "mx.acme.example"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout, srv.WriteTimeout = 5*time.Second, 5*time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	mb.addr = l.Addr().String()
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close(); <-done })
	return mb
}

func (mb *mailbox) mails() []received {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	return append([]received(nil), mb.received...)
}

type session struct {
	mb     *mailbox
	authed bool
	from   string
	to     []string
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.mb.user || pass != s.mb.pass {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid"}
		}
		s.authed = true
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.mb.user != "" && !s.authed {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	switch {
	case strings.HasPrefix(to, "nobody@"):
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}
	case strings.HasPrefix(to, "full@"):
		return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "Mailbox full, try later"}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.mb.mu.Lock()
	s.mb.received = append(s.mb.received, received{from: s.from, to: s.to, data: data})
	s.mb.mu.Unlock()
	return nil
}

func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }

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
	mb := newMailbox(t, "", "")
	at := time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)
	s := &notify.EmailSender{Config: notify.SMTPConfig{Addr: mb.addr, From: "cmo <cmo@acme.example>"}, Now: func() time.Time { return at }}
	route := emailRoute("Núria Puig <nuria@acme.example>", "press@acme.example")
	require.NoError(t, s.Send(context.Background(), route, crisisMail))
	require.NoError(t, s.Send(context.Background(), route, crisisMail), "a retry sends again, under the same Message-ID")

	mails := mb.mails()
	require.Len(t, mails, 2)
	got := mails[0]
	require.Equal(t, "cmo@acme.example", got.from)
	require.Equal(t, []string{"nuria@acme.example", "press@acme.example"}, got.to)

	msg, err := mail.ReadMessage(bytes.NewReader(got.data))
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

	again, err := mail.ReadMessage(bytes.NewReader(mails[1].data))
	require.NoError(t, err)
	require.Equal(t, h.Get("Message-ID"), again.Header.Get("Message-ID"))
}

func TestEmailSubjectDefaultsToTheFirstLine(t *testing.T) {
	mb := newMailbox(t, "", "")
	s := &notify.EmailSender{Config: notify.SMTPConfig{Addr: mb.addr, From: "cmo@acme.example"}}
	require.NoError(t, s.Send(context.Background(), emailRoute("press@acme.example"), notify.Message{ID: "k", Text: "Campaign launched\nDetails follow.", Severity: "low"}))
	msg, err := mail.ReadMessage(bytes.NewReader(mb.mails()[0].data))
	require.NoError(t, err)
	require.Equal(t, "[LOW] Campaign launched", msg.Header.Get("Subject"))
}

func TestEmailLogsInWithPlainAuth(t *testing.T) {
	mb := newMailbox(t, "cmo", "s3cret-pass")
	cfg := notify.SMTPConfig{Addr: mb.addr, From: "cmo@acme.example", Username: "cmo", Password: "s3cret-pass"}
	require.NoError(t, (&notify.EmailSender{Config: cfg}).Send(context.Background(), emailRoute("press@acme.example"), crisisMail))
	require.Len(t, mb.mails(), 1)

	cfg.Password = "wrong-pass"
	err := (&notify.EmailSender{Config: cfg}).Send(context.Background(), emailRoute("press@acme.example"), crisisMail)
	ne := asNotifyError(t, err)
	require.Equal(t, 535, ne.Status)
	require.True(t, ne.Permanent)
	require.NotContains(t, err.Error(), "wrong-pass")

	cfg.Username, cfg.Password = "", ""
	err = (&notify.EmailSender{Config: cfg}).Send(context.Background(), emailRoute("press@acme.example"), crisisMail)
	require.Equal(t, 530, asNotifyError(t, err).Status)
	require.Len(t, mb.mails(), 1)
}

func TestEmailRefusedRecipients(t *testing.T) {
	mb := newMailbox(t, "", "")
	s := &notify.EmailSender{Config: notify.SMTPConfig{Addr: mb.addr, From: "cmo@acme.example"}}

	// A mailbox that is full for now: nothing goes out, the retry sends
	// to everyone.
	err := s.Send(context.Background(), emailRoute("press@acme.example", "full@acme.example"), crisisMail)
	ne := asNotifyError(t, err)
	require.Equal(t, 452, ne.Status)
	require.False(t, ne.Permanent)
	require.Empty(t, mb.mails())

	// An address that does not exist: the others get the mail, and the
	// failure is permanent so no retry mails them twice.
	err = s.Send(context.Background(), emailRoute("press@acme.example", "nobody@acme.example"), crisisMail)
	ne = asNotifyError(t, err)
	require.Equal(t, 550, ne.Status)
	require.True(t, ne.Permanent)
	require.Contains(t, err.Error(), "nobody@acme.example")
	mails := mb.mails()
	require.Len(t, mails, 1)
	require.Equal(t, []string{"press@acme.example"}, mails[0].to)

	err = s.Send(context.Background(), emailRoute("nobody@acme.example"), crisisMail)
	require.True(t, notify.IsPermanent(err))
	require.Len(t, mb.mails(), 1)
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
