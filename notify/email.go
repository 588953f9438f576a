package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"strings"
	"time"
)

// SMTPConfig is the mail server notifications go through.
type SMTPConfig struct {
	// Addr is host:port.
	Addr string
	// From is the sender, an address or "Name <address>".
	From string
	// Username and Password, when set, log in with AUTH PLAIN. net/smtp
	// refuses to send them unencrypted except to localhost, so a remote
	// server must offer STARTTLS.
	Username string
	Password string
	// Helo is the name given in EHLO; empty means "localhost".
	Helo string
	// Timeout bounds one whole delivery; zero means 30 s.
	Timeout time.Duration
}

// EmailSender sends plain-text mail. STARTTLS is used whenever the server
// offers it; without it the conversation stays plaintext, which is what a
// local relay or a test server gives.
type EmailSender struct {
	Config SMTPConfig
	// Now is the clock for the Date header; nil means time.Now.
	Now func() time.Time
}

// Send mails the message to every address of the route. The Message-ID
// derives from the outbox key, so a re-sent message is recognisable as the
// same one. 5xx replies fail for good, 4xx replies and lost connections
// are retried. Some recipients refused with 5xx while others were accepted
// still sends to the accepted ones, and reports the refused ones as a
// permanent failure, so that no retry mails the others twice.
func (s *EmailSender) Send(ctx context.Context, r Route, m Message) (err error) {
	from, err := mail.ParseAddress(s.Config.From)
	if err != nil {
		return &Error{Kind: Email, Permanent: true, Msg: fmt.Sprintf("the sender address %q is not valid", s.Config.From)}
	}
	var to []*mail.Address
	for _, a := range r.Addresses {
		addr, err := mail.ParseAddress(a)
		if err != nil {
			return &Error{Kind: Email, Permanent: true, Msg: fmt.Sprintf("recipient %q is not a valid address", a)}
		}
		to = append(to, addr)
	}
	if len(to) == 0 {
		return &Error{Kind: Email, Permanent: true, Msg: "the route has no addresses"}
	}
	msg, err := s.compose(from, to, m)
	if err != nil {
		return err
	}
	defer func() { err = smtpError(err, s.Config.Password) }()

	host, _, err := net.SplitHostPort(s.Config.Addr)
	if err != nil {
		return &Error{Kind: Email, Permanent: true, Msg: fmt.Sprintf("SMTP address %q is not host:port", s.Config.Addr)}
	}
	timeout := s.Config.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.Config.Addr)
	if err != nil {
		return fmt.Errorf("connect to the mail server: %w", err)
	}
	// net/smtp has no contexts: a deadline on the connection, pulled in
	// when ctx ends, keeps a stalled server from holding the activity.
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("greeting: %w", err)
	}
	defer c.Close()
	helo := s.Config.Helo
	if helo == "" {
		helo = "localhost"
	}
	if err := c.Hello(helo); err != nil {
		return fmt.Errorf("EHLO: %w", err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(&tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}); err != nil {
			return fmt.Errorf("STARTTLS: %w", err)
		}
	}
	if s.Config.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", s.Config.Username, s.Config.Password, host)); err != nil {
			return fmt.Errorf("AUTH: %w", err)
		}
	}
	if err := c.Mail(from.Address); err != nil {
		return fmt.Errorf("MAIL FROM: %w", err)
	}
	var refused []string
	var refusedErr error
	for _, a := range to {
		if err := c.Rcpt(a.Address); err != nil {
			var te *textproto.Error
			if !errors.As(err, &te) || te.Code < 500 {
				// Try the whole message again later rather than mail some
				// now and the rest twice.
				_ = c.Reset()
				return fmt.Errorf("RCPT TO %s: %w", a.Address, err)
			}
			refused = append(refused, a.Address)
			refusedErr = err
		}
	}
	if len(refused) == len(to) {
		return fmt.Errorf("RCPT TO %s: %w", strings.Join(refused, ", "), refusedErr)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("message: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("end of message: %w", err)
	}
	_ = c.Quit()
	if len(refused) > 0 {
		return fmt.Errorf("mailed %d of %d recipients; refused %s: %w", len(to)-len(refused), len(to), strings.Join(refused, ", "), refusedErr)
	}
	return nil
}

// smtpError classifies a failed conversation: a 5xx reply is permanent,
// anything else (4xx, a dropped connection, a timeout) may pass later.
func smtpError(err error, password string) error {
	if err == nil {
		return nil
	}
	var ne *Error
	if errors.As(err, &ne) {
		return err
	}
	e := &Error{Kind: Email, Msg: redact(err.Error(), password)}
	var te *textproto.Error
	if errors.As(err, &te) {
		e.Status = te.Code
		e.Permanent = te.Code >= 500
	}
	return e
}

// compose renders the message: headers with non-ASCII text encoded per
// RFC 2047, a quoted-printable UTF-8 body.
func (s *EmailSender) compose(from *mail.Address, to []*mail.Address, m Message) ([]byte, error) {
	subject := m.Subject
	if subject == "" {
		subject = firstLine(m.Text)
	}
	if m.Severity != "" && m.Subject == "" {
		subject = "[" + strings.ToUpper(m.Severity) + "] " + subject
	}
	subject = truncate(strings.Join(strings.Fields(subject), " "), 200)

	var rcpts []string
	for _, a := range to {
		rcpts = append(rcpts, a.String())
	}
	var b bytes.Buffer
	header := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	header("From", from.String())
	header("To", strings.Join(rcpts, ",\r\n "))
	// Long encoded subjects are split into words of at most 75
	// characters; fold between them to keep lines short.
	header("Subject", strings.ReplaceAll(mime.QEncoding.Encode("utf-8", subject), "?= =?", "?=\r\n =?"))
	header("Date", now(s.Now).Format(time.RFC1123Z))
	header("Message-ID", MessageID(m, from.Address))
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	// RFC 3834: tells auto-responders not to answer.
	header("Auto-Submitted", "auto-generated")
	b.WriteString("\r\n")

	qp := quotedprintable.NewWriter(&b)
	body := m.Text
	var facts []string
	if m.Severity != "" {
		facts = append(facts, "Severity: "+m.Severity)
	}
	if m.Incident != "" {
		facts = append(facts, "Incident: "+m.Incident)
	}
	if m.Link != "" {
		facts = append(facts, "Link: "+m.Link)
	}
	if len(facts) > 0 {
		body += "\n\n" + strings.Join(facts, "\n")
	}
	if _, err := qp.Write([]byte(body + "\n")); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// MessageID is the Message-ID header of a message's mail: derived from the
// outbox key, so every attempt carries the same one.
func MessageID(m Message, from string) string {
	domain := "cmo.invalid"
	if _, d, ok := strings.Cut(from, "@"); ok && d != "" {
		domain = d
	}
	id := m.ID
	if id == "" {
		var b [16]byte
		_, _ = rand.Read(b[:])
		id = hex.EncodeToString(b[:])
	}
	return "<" + hashID(id) + "@" + domain + ">"
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}
