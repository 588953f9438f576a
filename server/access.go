package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"

	"github.com/cmo-dev/cmo/access"
	"github.com/cmo-dev/cmo/store"
	"github.com/cmo-dev/cmo/workflows"
)

// scope says where a route finds the brand it acts on, so the key's
// brands can be checked before the handler runs.
type scope int

const (
	// scopeNone: not about one brand (playbooks, the sandbox); the
	// handler filters lists by the key's brands where it matters.
	scopeNone scope = iota
	// scopeGlobal: only a key for every brand may (create brands).
	scopeGlobal
	// scopeParam: the :brand path parameter.
	scopeParam
	// scopeQuery: ?brand=. A key for one brand gets it filled in; a key
	// for several must say which.
	scopeQuery
	// scopeBody: the handler checks the brand named in the body with
	// allowBrand once it has decoded it.
	scopeBody
	// The :id of a campaign, crisis, inbox item, channel or calendar
	// token, looked up for its brand.
	scopeCampaign
	scopeCrisis
	scopeInbox
	scopeChannel
	scopeCalendarToken
)

// rule is one route's entry in the access table.
type rule struct {
	// public, when set, says why the route needs no API key (and what
	// guards it instead, if anything).
	public string
	roles  []access.Role
	scope  scope
	// action names successful writes in the audit trail; empty for
	// writes that are not decisions or changes (ingestion, previews).
	action string
}

var (
	anyone     = []access.Role{access.Viewer, access.Marketer, access.Approver, access.PRLead, access.Admin}
	writers    = []access.Role{access.Marketer, access.Approver, access.PRLead, access.Admin}
	approvers  = []access.Role{access.Approver, access.Admin}
	responders = []access.Role{access.PRLead, access.Admin}
	careLeads  = []access.Role{access.Approver, access.PRLead, access.Admin}
	setup      = []access.Role{access.PRLead, access.Admin}
	admins     = []access.Role{access.Admin}
)

// routeAccess is the single source of authorisation: every registered
// route has exactly one entry (a test fails otherwise), and a registered
// route without one is refused. Keys are "METHOD path" as Echo registers
// them; "* path" covers every method.
var routeAccess = map[string]rule{
	"GET /healthz":      {public: "liveness probe"},
	"GET /readyz":       {public: "readiness probe"},
	"GET /metrics":      {public: "Prometheus scrape; counts only, no content"},
	"GET /openapi.yaml": {public: "the API's own description"},
	"GET /l/:code":      {public: "tracked link followed by the audience"},
	"GET /v1/calendar.ics": {
		public: "calendar applications cannot send headers; opened by a per-person revocable token"},
	"POST /v1/hooks/mentions/:source": {public: "signed by the source's own HMAC secret"},
	"* /sandbox/*":                    {public: "the sandbox platform's own API, with its own bearer tokens"},

	"GET /v1/whoami":              {roles: anyone},
	"GET /v1/keys":                {roles: admins},
	"POST /v1/keys":               {roles: admins, action: "key.create"},
	"DELETE /v1/keys/:id":         {roles: admins, action: "key.revoke"},
	"GET /v1/audit":               {roles: anyone},
	"GET /v1/playbooks":           {roles: anyone},
	"GET /v1/playbooks/:name":     {roles: anyone},
	"POST /v1/playbooks/validate": {roles: writers},
	"GET /v1/sandbox/posts":       {roles: anyone},

	"GET /v1/brands":                          {roles: anyone},
	"POST /v1/brands":                         {roles: admins, scope: scopeGlobal, action: "brand.create"},
	"GET /v1/brands/:brand/channels":          {roles: anyone, scope: scopeParam},
	"POST /v1/brands/:brand/channels":         {roles: admins, scope: scopeParam, action: "channel.create"},
	"POST /v1/channels/:id/test":              {roles: admins, scope: scopeChannel},
	"POST /v1/channels/:id/disable":           {roles: admins, scope: scopeChannel, action: "channel.disable"},
	"POST /v1/channels/:id/enable":            {roles: admins, scope: scopeChannel, action: "channel.enable"},
	"GET /v1/brands/:brand/routes":            {roles: setup, scope: scopeParam},
	"PUT /v1/brands/:brand/routes/:target":    {roles: admins, scope: scopeParam, action: "route.put"},
	"DELETE /v1/brands/:brand/routes/:target": {roles: admins, scope: scopeParam, action: "route.delete"},
	"GET /v1/brands/:brand/notifications":     {roles: anyone, scope: scopeParam},

	"POST /v1/campaigns":                 {roles: writers, scope: scopeBody, action: "campaign.launch"},
	"GET /v1/campaigns":                  {roles: anyone, scope: scopeQuery},
	"GET /v1/campaigns/:id":              {roles: anyone, scope: scopeCampaign},
	"POST /v1/campaigns/:id/approvals":   {roles: approvers, scope: scopeCampaign, action: "approve"},
	"GET /v1/campaigns/:id/report":       {roles: anyone, scope: scopeCampaign},
	"GET /v1/campaigns/:id/links":        {roles: anyone, scope: scopeCampaign},
	"GET /v1/campaigns/:id/costs":        {roles: anyone, scope: scopeCampaign},
	"POST /v1/campaigns/:id/costs":       {roles: writers, scope: scopeCampaign, action: "cost.add"},
	"POST /v1/campaigns/:id/conversions": {roles: writers, scope: scopeCampaign, action: "conversion.add"},
	"GET /v1/calendar":                   {roles: anyone, scope: scopeQuery},
	"GET /v1/calendar/tokens":            {roles: anyone, scope: scopeQuery},
	"POST /v1/calendar/tokens":           {roles: anyone, scope: scopeBody, action: "calendar-token.create"},
	"DELETE /v1/calendar/tokens/:id":     {roles: anyone, scope: scopeCalendarToken, action: "calendar-token.revoke"},

	"POST /v1/mentions":               {roles: writers, scope: scopeBody},
	"GET /v1/mentions":                {roles: anyone, scope: scopeQuery},
	"GET /v1/brands/:brand/listening": {roles: anyone, scope: scopeParam},
	"PUT /v1/brands/:brand/listening": {roles: setup, scope: scopeParam, action: "listening.put"},
	"POST /v1/brands/:brand/sources":  {roles: admins, scope: scopeParam, action: "source.create"},
	"POST /v1/simulations":            {roles: writers},
	"GET /v1/crises":                  {roles: anyone, scope: scopeQuery},
	"GET /v1/crises/:id":              {roles: anyone, scope: scopeCrisis},
	"GET /v1/crises/:id/timeline":     {roles: anyone, scope: scopeCrisis},
	"POST /v1/crises/:id/ack":         {roles: responders, scope: scopeCrisis, action: "acknowledge"},
	"POST /v1/crises/:id/escalate":    {roles: responders, scope: scopeCrisis, action: "escalate"},
	"POST /v1/crises/:id/deescalate":  {roles: responders, scope: scopeCrisis, action: "deescalate"},
	"POST /v1/crises/:id/resolve":     {roles: responders, scope: scopeCrisis, action: "resolve"},
	"POST /v1/crises/:id/freeze":      {roles: responders, scope: scopeCrisis, action: "freeze"},
	"POST /v1/crises/:id/statement":   {roles: responders, scope: scopeCrisis, action: "statement.approve"},

	"GET /v1/brands/:brand/inbox":                         {roles: anyone, scope: scopeParam},
	"GET /v1/brands/:brand/inbox/setup":                   {roles: anyone, scope: scopeParam},
	"PUT /v1/brands/:brand/inbox/setup":                   {roles: admins, scope: scopeParam, action: "inbox.setup"},
	"GET /v1/brands/:brand/inbox/kpis":                    {roles: anyone, scope: scopeParam},
	"GET /v1/inbox/:id":                                   {roles: anyone, scope: scopeInbox},
	"POST /v1/inbox/:id/assign":                           {roles: writers, scope: scopeInbox, action: "inbox.assign"},
	"POST /v1/inbox/:id/reply":                            {roles: writers, scope: scopeInbox, action: "inbox.reply"},
	"POST /v1/inbox/:id/approval":                         {roles: careLeads, scope: scopeInbox, action: "approve"},
	"POST /v1/inbox/:id/close":                            {roles: writers, scope: scopeInbox, action: "inbox.close"},
	"GET /v1/brands/:brand/influencers":                   {roles: anyone, scope: scopeParam},
	"GET /v1/brands/:brand/influencers/:handle":           {roles: anyone, scope: scopeParam},
	"POST /v1/brands/:brand/influencers/:handle/outreach": {roles: writers, scope: scopeParam, action: "influencer.outreach"},
}

// accessFor finds a route's rule.
func accessFor(method, path string) (rule, bool) {
	if r, ok := routeAccess[method+" "+path]; ok {
		return r, true
	}
	r, ok := routeAccess["* "+path]
	return r, ok
}

// Context keys.
const (
	principalKey = "cmo.principal"
	auditKey     = "cmo.audit"
)

// principal is who the request acts as; the zero Principal on public
// routes.
func principal(c echo.Context) (access.Principal, bool) {
	p, ok := c.Get(principalKey).(access.Principal)
	return p, ok
}

func forbidden(field, format string, args ...any) *Problem {
	return &Problem{Type: TypeForbidden, Title: "Forbidden", Status: http.StatusForbidden,
		Detail: fmt.Sprintf(format, args...), Field: field}
}

// guard authenticates the key, applies its rate limit, checks its role
// and brands against the route's rule, and arranges the audit entry.
func (s *Server) guard(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		r, ok := accessFor(req.Method, c.Path())
		if !ok {
			if s.registered[req.Method+" "+c.Path()] {
				// A route nobody wrote a rule for is refused, not opened.
				return forbidden("", "%s %s has no access rule", req.Method, c.Path())
			}
			return next(c) // Echo's own 404 and 405 answers
		}
		if r.public != "" {
			return next(c)
		}
		p, err := s.keys.authenticate(req.Context(), req.Header.Get(echo.HeaderAuthorization))
		if err != nil {
			if errors.Is(err, errNoKey) || errors.Is(err, errBadKey) {
				c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="cmo"`)
				p := unauthorized("%v", err)
				p.Field = "Authorization"
				return p
			}
			return s.storeError(err)
		}
		c.Set(principalKey, p)
		if wait, ok := s.limits.allow(p.KeyID); !ok {
			return &Problem{Type: TypeRateLimited, Title: "Too many requests", Status: http.StatusTooManyRequests,
				Detail:     fmt.Sprintf("key %s is over its limit of %g requests a second; retry after %d s", p.KeyID, float64(s.limits.rate), wait),
				RetryAfter: wait}
		}
		if !slices.Contains(r.roles, p.Role) {
			return forbidden("role", "role %s may not %s %s", p.Role, req.Method, c.Path())
		}
		brand, err := s.routeBrand(c, r.scope, p)
		if err != nil {
			return err
		}
		if r.action != "" && req.Method != http.MethodGet {
			s.arrangeAudit(c, r, p, brand)
		}
		return next(c)
	}
}

// routeBrand finds and checks the brand the route acts on.
func (s *Server) routeBrand(c echo.Context, sc scope, p access.Principal) (string, error) {
	ctx := c.Request().Context()
	var brand string
	switch sc {
	case scopeNone, scopeBody:
		return "", nil
	case scopeGlobal:
		if !p.AllBrands() {
			return "", forbidden("", "only a key for every brand may do this; key %s is for %s", p.KeyID, strings.Join(p.Brands, ", "))
		}
		return "", nil
	case scopeParam:
		brand = c.Param("brand")
	case scopeQuery:
		brand = c.QueryParam("brand")
		if brand == "" {
			switch {
			case p.AllBrands():
				return "", nil
			case len(p.Brands) == 1:
				brand = p.Brands[0]
				c.QueryParams().Set("brand", brand)
			default:
				return "", forbidden("brand", "key %s is for brands %s: say which with ?brand=", p.KeyID, strings.Join(p.Brands, ", "))
			}
		}
	default:
		b, found, err := s.resourceBrand(ctx, sc, c.Param("id"))
		if err != nil {
			return "", s.storeError(err)
		}
		if !found {
			return "", nil // the handler answers 404
		}
		brand = b
	}
	if !p.Covers(brand) {
		return "", forbidden("brand", "key %s may not act on brand %q", p.KeyID, brand)
	}
	return brand, nil
}

// resourceBrand looks up the brand an id belongs to.
func (s *Server) resourceBrand(ctx context.Context, sc scope, id string) (brand string, found bool, err error) {
	switch sc {
	case scopeCampaign:
		return s.campaignBrand(ctx, id)
	case scopeCrisis:
		cr, err := s.d.Store.CrisisByID(ctx, id)
		return found404(cr.Brand, err)
	case scopeInbox:
		it, err := s.d.Store.InboxItem(ctx, id)
		return found404(it.Brand, err)
	case scopeChannel:
		ch, err := s.d.Store.Channel(ctx, id)
		return found404(ch.BrandID, err)
	case scopeCalendarToken:
		toks, err := s.d.Store.CalendarTokens(ctx)
		if err != nil {
			return "", false, err
		}
		for _, t := range toks {
			if t.ID == id {
				// A token for every brand belongs to no one brand: only a
				// key for every brand may revoke it.
				if t.BrandID == "" {
					return access.AllBrands, true, nil
				}
				return t.BrandID, true, nil
			}
		}
		return "", false, nil
	}
	return "", false, fmt.Errorf("no brand lookup for scope %d", sc)
}

func found404(brand string, err error) (string, bool, error) {
	if errors.Is(err, store.ErrNotFound) {
		return "", false, nil
	}
	return brand, err == nil, err
}

// campaignBrand reads a campaign's Brand search attribute. A campaign's
// brand never changes, so answers are kept.
func (s *Server) campaignBrand(ctx context.Context, id string) (string, bool, error) {
	if b, ok := s.campaignBrands.Load(id); ok {
		return b.(string), true, nil
	}
	desc, err := s.d.Temporal.DescribeWorkflowExecution(ctx, workflows.CampaignWorkflowID(id), "")
	if err != nil {
		if p := s.workflowErr(err, id); isNotFound(p) {
			return "", false, nil
		}
		return "", false, err
	}
	var brand string
	if f, ok := desc.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields()[workflows.SABrand.GetName()]; ok {
		_ = json.Unmarshal(f.GetData(), &brand)
	}
	if brand == "" {
		return "", false, fmt.Errorf("campaign %s has no Brand search attribute", id)
	}
	s.campaignBrands.Store(id, brand)
	return brand, true, nil
}

func isNotFound(err error) bool {
	var p *Problem
	return errors.As(err, &p) && p.Status == http.StatusNotFound
}

// allowBrand checks the brand a body names, for scopeBody routes.
func (s *Server) allowBrand(c echo.Context, field, brand string) error {
	p, ok := principal(c)
	if !ok {
		return nil // public route: guarded by its own means
	}
	if !p.Covers(brand) {
		return forbidden(field, "key %s may not act on brand %q", p.KeyID, brand)
	}
	if a, ok := c.Get(auditKey).(*store.AuditEntry); ok && a.Brand == "" {
		a.Brand = brand
	}
	return nil
}

// bindActor makes the key's holder the actor of a decision: a body may
// leave actor out or repeat it, but never name someone else.
func bindActor(c echo.Context, field string, actor *string) error {
	p, ok := principal(c)
	if !ok {
		return nil
	}
	if *actor != "" && *actor != p.Actor {
		return invalidField(field, "%s is %q for key %s; a key acts only as its holder", field, p.Actor, p.KeyID)
	}
	*actor = p.Actor
	return nil
}

// bindBodyActor binds the Actor field of a decoded decision, if it has
// one.
func bindBodyActor(c echo.Context, body any) error {
	v := reflect.ValueOf(body)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil
	}
	f := v.Elem().FieldByName("Actor")
	if !f.IsValid() || f.Kind() != reflect.String || !f.CanSet() {
		return nil
	}
	actor := f.String()
	if err := bindActor(c, "actor", &actor); err != nil {
		return err
	}
	f.SetString(actor)
	return nil
}

// audit lets a handler add to or rename the audit entry of its request;
// it is a no-op on routes that are not audited.
func audit(c echo.Context, edit func(e *store.AuditEntry)) {
	if a, ok := c.Get(auditKey).(*store.AuditEntry); ok {
		edit(a)
	}
}

// arrangeAudit writes the request's audit entry when its answer is a
// success, just before the answer is sent, so an acknowledged change is
// in the trail by the time the client hears of it.
func (s *Server) arrangeAudit(c echo.Context, r rule, p access.Principal, brand string) {
	e := &store.AuditEntry{
		Brand: brand, Actor: p.Actor, KeyID: p.KeyID, Role: string(p.Role), Action: r.action,
		Subject: subject(c, r.scope, brand), Detail: map[string]any{},
	}
	c.Set(auditKey, e)
	resp := c.Response()
	resp.Before(func() {
		if resp.Status >= 400 {
			return
		}
		e.RequestID = resp.Header().Get(echo.HeaderXRequestID)
		e.Detail["route"] = c.Request().Method + " " + c.Path()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request().Context()), 5*time.Second)
		defer cancel()
		if _, err := s.d.Store.RecordAudit(ctx, *e); err != nil {
			s.d.Log.Error("audit entry lost", "action", e.Action, "actor", e.Actor, "subject", e.Subject,
				"request_id", e.RequestID, "error", err)
		}
	})
}

func subject(c echo.Context, sc scope, brand string) string {
	switch sc {
	case scopeCampaign:
		return "campaign:" + c.Param("id")
	case scopeCrisis:
		return "crisis:" + c.Param("id")
	case scopeInbox:
		return "inbox:" + c.Param("id")
	case scopeChannel:
		return "channel:" + c.Param("id")
	case scopeCalendarToken:
		return "calendar-token:" + c.Param("id")
	}
	if brand != "" {
		return "brand:" + brand
	}
	return ""
}

var (
	errNoKey  = errors.New("this route needs an API key: send Authorization: Bearer <key> (make one with cmo keys create)")
	errBadKey = errors.New("the API key is unknown or was revoked")
)

// keyring turns API keys into principals. It keeps what it found for a
// short while so a busy client does not cost a database write a request;
// a key revoked through this process stops at once, through another
// within keyTTL.
type keyring struct {
	store *store.Store
	ttl   time.Duration
	mu    sync.Mutex
	known map[string]knownKey // by hash of the secret
}

type knownKey struct {
	p       access.Principal
	expires time.Time
}

func newKeyring(st *store.Store, ttl time.Duration) *keyring {
	return &keyring{store: st, ttl: ttl, known: map[string]knownKey{}}
}

func (k *keyring) authenticate(ctx context.Context, header string) (access.Principal, error) {
	scheme, secret, ok := strings.Cut(header, " ")
	if header == "" || !ok || !strings.EqualFold(scheme, "Bearer") {
		return access.Principal{}, errNoKey
	}
	secret = strings.TrimSpace(secret)
	if !strings.HasPrefix(secret, access.KeyPrefix) {
		return access.Principal{}, errBadKey
	}
	// The map is indexed by the secret's hash, never the secret, so a
	// heap dump shows no keys; lookups by hash need no constant-time
	// comparison because the hash reveals nothing of the secret.
	h := access.Hash(secret)
	now := time.Now()
	k.mu.Lock()
	kk, ok := k.known[h]
	k.mu.Unlock()
	if ok && now.Before(kk.expires) {
		return kk.p, nil
	}
	key, err := k.store.UseAPIKey(ctx, secret)
	if errors.Is(err, store.ErrNotFound) {
		return access.Principal{}, errBadKey
	} else if err != nil {
		return access.Principal{}, err
	}
	k.mu.Lock()
	if len(k.known) > 10000 {
		clear(k.known) // a flood of distinct keys must not grow memory
	}
	k.known[h] = knownKey{p: key.Principal(), expires: now.Add(k.ttl)}
	k.mu.Unlock()
	return key.Principal(), nil
}

// forget drops a key at once (on revocation).
func (k *keyring) forget(id string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for h, kk := range k.known {
		if kk.p.KeyID == id {
			delete(k.known, h)
		}
	}
}

// limiter is a token bucket per key.
type limiter struct {
	rate  rate.Limit
	burst int
	mu    sync.Mutex
	keys  map[string]*rate.Limiter
}

func newLimiter(perSecond float64, burst int) *limiter {
	return &limiter{rate: rate.Limit(perSecond), burst: burst, keys: map[string]*rate.Limiter{}}
}

// allow takes a token for the key, or says how many whole seconds to wait.
func (l *limiter) allow(key string) (retryAfter int, ok bool) {
	if l.rate <= 0 {
		return 0, true
	}
	l.mu.Lock()
	lim, found := l.keys[key]
	if !found {
		lim = rate.NewLimiter(l.rate, l.burst)
		l.keys[key] = lim
	}
	l.mu.Unlock()
	now := time.Now()
	r := lim.ReserveN(now, 1)
	if !r.OK() {
		return 1, false
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now) // a refused request takes no token
		return max(1, int(math.Ceil(d.Seconds()))), false
	}
	return 0, true
}

// noteDecision puts a decision sent to a workflow in the request's audit
// entry: its workflow, its fields (the actor is already the entry's), and
// the action it really is — an approval route's reject, a freeze route's
// unfreeze.
func noteDecision(c echo.Context, workflowID string, body any) {
	audit(c, func(e *store.AuditEntry) {
		e.WorkflowID = workflowID
		raw, err := json.Marshal(body)
		if err != nil {
			return
		}
		var m map[string]any
		if json.Unmarshal(raw, &m) != nil {
			return
		}
		delete(m, "actor")
		for k, v := range m {
			e.Detail[k] = v
		}
		if d, ok := m["decision"].(string); ok && d != "" {
			if prefix, _, found := strings.Cut(e.Action, "."); found {
				e.Action = prefix + "." + d
			} else {
				e.Action = d
			}
		}
		if frozen, ok := m["frozen"].(bool); ok && !frozen && e.Action == "freeze" {
			e.Action = "unfreeze"
		}
	})
}

// RouteAccess is one route's access rule, as the table holds it.
type RouteAccess struct {
	Method string        `json:"method"`
	Path   string        `json:"path"`
	Found  bool          `json:"-"`
	Public string        `json:"public,omitempty"`
	Roles  []access.Role `json:"roles,omitempty"`
	// Brand says where the brand checked against the key comes from.
	Brand string `json:"brand,omitempty"`
	Audit string `json:"audit,omitempty"`
}

var scopeNames = map[scope]string{
	scopeNone: "", scopeGlobal: "every brand", scopeParam: "path", scopeQuery: "query", scopeBody: "body",
	scopeCampaign: "campaign", scopeCrisis: "crisis", scopeInbox: "inbox item", scopeChannel: "channel",
	scopeCalendarToken: "calendar token",
}

// Access lists the rule of every registered route, in registration
// order; Found is false for a route the table lacks.
func (s *Server) Access() []RouteAccess {
	var out []RouteAccess
	for _, r := range s.e.Routes() {
		ra := RouteAccess{Method: r.Method, Path: r.Path}
		if ru, ok := accessFor(r.Method, r.Path); ok {
			ra.Found, ra.Public, ra.Roles, ra.Brand, ra.Audit = true, ru.public, ru.roles, scopeNames[ru.scope], ru.action
		}
		out = append(out, ra)
	}
	return out
}

// AccessRules lists the table's own keys ("METHOD path"), so a test can
// find rules for routes that are no longer registered.
func AccessRules() []string {
	out := make([]string, 0, len(routeAccess))
	for k := range routeAccess {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
