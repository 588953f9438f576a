package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/cmo-dev/cmo/playbooks"
)

// Problem is an error answer in RFC 9457 form (application/problem+json).
// Type is stable for clients to switch on; Field names the offending input.
type Problem struct {
	Type   string         `json:"type"`
	Title  string         `json:"title"`
	Status int            `json:"status"`
	Detail string         `json:"detail,omitempty"`
	Field  string         `json:"field,omitempty"`
	Errors []FieldProblem `json:"errors,omitempty"`
	// RequestID lets an operator find the request in the logs.
	RequestID string `json:"request_id,omitempty"`
	// RetryAfter, in seconds, is sent as the Retry-After header.
	RetryAfter int `json:"-"`
}

// FieldProblem is one invalid input field.
type FieldProblem struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (p *Problem) Error() string {
	if p.Field != "" {
		return fmt.Sprintf("%d %s: %s: %s", p.Status, p.Title, p.Field, p.Detail)
	}
	return fmt.Sprintf("%d %s: %s", p.Status, p.Title, p.Detail)
}

// Problem types.
const (
	TypeInvalidBody  = "urn:cmo:problem:invalid-body"
	TypeInvalidField = "urn:cmo:problem:invalid-field"
	TypeNotFound     = "urn:cmo:problem:not-found"
	TypeConflict     = "urn:cmo:problem:conflict"
	TypeUnavailable  = "urn:cmo:problem:unavailable"
	TypeUnauthorized = "urn:cmo:problem:unauthorized"
	TypeForbidden    = "urn:cmo:problem:forbidden"
	TypeRateLimited  = "urn:cmo:problem:rate-limited"
	TypeInternal     = "urn:cmo:problem:internal"
	TypeHTTP         = "urn:cmo:problem:http"
)

func invalidField(field, format string, args ...any) *Problem {
	msg := fmt.Sprintf(format, args...)
	return &Problem{Type: TypeInvalidField, Title: "Invalid field", Status: http.StatusUnprocessableEntity,
		Detail: msg, Field: field, Errors: []FieldProblem{{Field: field, Message: msg}}}
}

func fieldErrors(errs playbooks.FieldErrors) *Problem {
	p := &Problem{Type: TypeInvalidField, Title: "Invalid field", Status: http.StatusUnprocessableEntity,
		Detail: errs.Error(), Field: errs[0].Field}
	for _, e := range errs {
		p.Errors = append(p.Errors, FieldProblem{Field: e.Field, Message: e.Msg})
	}
	return p
}

func notFound(field, format string, args ...any) *Problem {
	return &Problem{Type: TypeNotFound, Title: "Not found", Status: http.StatusNotFound,
		Detail: fmt.Sprintf(format, args...), Field: field}
}

func conflict(field, format string, args ...any) *Problem {
	return &Problem{Type: TypeConflict, Title: "Conflict", Status: http.StatusConflict,
		Detail: fmt.Sprintf(format, args...), Field: field}
}

func unavailable(format string, args ...any) *Problem {
	return &Problem{Type: TypeUnavailable, Title: "Service unavailable", Status: http.StatusServiceUnavailable,
		Detail: fmt.Sprintf(format, args...)}
}

// maxBody is the largest JSON request body the API reads.
const maxBody = 1 << 20

// decodeJSON reads a JSON body strictly: unknown fields, trailing data and
// wrong types are errors that name the field.
func decodeJSON(c echo.Context, v any) error {
	body := http.MaxBytesReader(c.Response(), c.Request().Body, maxBody)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return bodyProblem(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return &Problem{Type: TypeInvalidBody, Title: "Invalid body", Status: http.StatusBadRequest,
			Detail: "body must hold exactly one JSON object", Field: "body"}
	}
	return nil
}

func bodyProblem(err error) *Problem {
	p := &Problem{Type: TypeInvalidBody, Title: "Invalid body", Status: http.StatusBadRequest, Field: "body"}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var tooBig *http.MaxBytesError
	switch {
	case errors.Is(err, io.EOF):
		p.Detail = "body is empty; send a JSON object"
	case errors.As(err, &syn):
		p.Detail = fmt.Sprintf("malformed JSON at byte %d: %v", syn.Offset, syn)
	case errors.Is(err, io.ErrUnexpectedEOF):
		p.Detail = "malformed JSON: body ends too early"
	case errors.As(err, &typ):
		p.Status, p.Type, p.Title = http.StatusUnprocessableEntity, TypeInvalidField, "Invalid field"
		p.Field = typ.Field
		p.Detail = fmt.Sprintf("%s: want %s, got JSON %s", typ.Field, typ.Type, typ.Value)
	case errors.As(err, &tooBig):
		p.Status, p.Detail = http.StatusRequestEntityTooLarge, fmt.Sprintf("body is larger than %d bytes", tooBig.Limit)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		p.Status, p.Type, p.Title = http.StatusUnprocessableEntity, TypeInvalidField, "Invalid field"
		p.Field, p.Detail = name, fmt.Sprintf("unknown field %q", name)
	default:
		p.Detail = "malformed JSON: " + err.Error()
	}
	return p
}

// errorHandler turns every error a handler returns into problem+json. A
// 500 says only that something failed and gives the request id; the cause
// goes to the log.
func errorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		var p *Problem
		var he *echo.HTTPError
		switch {
		case errors.As(err, &p):
		case errors.As(err, &he):
			p = &Problem{Type: TypeHTTP, Title: http.StatusText(he.Code), Status: he.Code, Detail: fmt.Sprint(he.Message)}
			if he.Code == http.StatusRequestEntityTooLarge {
				p.Type, p.Field = TypeInvalidBody, "body"
			}
		default:
			log.Error("request failed", "method", c.Request().Method, "path", c.Path(),
				"request_id", c.Response().Header().Get(echo.HeaderXRequestID), "error", err)
			p = &Problem{Type: TypeInternal, Title: "Internal error", Status: http.StatusInternalServerError,
				Detail: "the request failed on our side; quote the request id when reporting it"}
		}
		p.RequestID = c.Response().Header().Get(echo.HeaderXRequestID)
		c.Response().Header().Set(echo.HeaderContentType, "application/problem+json")
		if p.RetryAfter > 0 {
			c.Response().Header().Set("Retry-After", strconv.Itoa(p.RetryAfter))
		}
		c.Response().WriteHeader(p.Status)
		if c.Request().Method != http.MethodHead {
			_ = json.NewEncoder(c.Response()).Encode(p)
		}
	}
}

// decodeDecision reads a decision's body into a fresh req() and checks it,
// for the handlers that pass decisions on to workflow updates.
func decodeDecision(c echo.Context, req func() any, check func(any) error) (any, error) {
	body := req()
	if err := decodeJSON(c, body); err != nil {
		return nil, err
	}
	if err := bindBodyActor(c, body); err != nil {
		return nil, err
	}
	if err := check(body); err != nil {
		return nil, err
	}
	return body, nil
}
