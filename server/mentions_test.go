package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cmo-dev/cmo/devstack/pgcluster"
	"github.com/cmo-dev/cmo/listening"
	"github.com/cmo-dev/cmo/playbooks"
	"github.com/cmo-dev/cmo/sealbox"
	"github.com/cmo-dev/cmo/server"
	"github.com/cmo-dev/cmo/store"
)

var clock = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func newAPI(t *testing.T, s *store.Store) *httptest.Server {
	t.Helper()
	lib, err := playbooks.Shipped()
	require.NoError(t, err)
	api := server.New(server.Deps{Store: s, Playbooks: lib, Now: func() time.Time { return clock },
		Sentiment: func(text, lang string) (float64, string, string) {
			if strings.Contains(text, "awful") {
				return -0.7, listening.Negative, "en"
			}
			return 0, listening.Neutral, "en"
		}})
	return serveAPI(t, s, api.Handler())
}

func seedBrand(t *testing.T, s *store.Store, id string) {
	t.Helper()
	require.NoError(t, s.UpsertBrand(context.Background(), store.Brand{ID: id, Name: id}))
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
}

func send(t *testing.T, method, url, contentType string, body []byte, header map[string]string) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	require.NoError(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	a := answer{status: resp.StatusCode, header: resp.Header}
	if len(raw) > 0 {
		require.NoError(t, json.Unmarshal(raw, &a.body), string(raw))
	}
	return a
}

func ndjson(brand string, ids ...string) []byte {
	var b strings.Builder
	for _, id := range ids {
		fmt.Fprintf(&b, `{"brand":%q,"source":"x","external_id":%q,"text":"this is awful","created_at":"2026-11-25T11:59:00Z","author":{"handle":"@a%s","followers":10}}`+"\n", brand, id, id)
	}
	return []byte(b.String())
}

func countMentions(t *testing.T, s *store.Store) int {
	t.Helper()
	var n int
	require.NoError(t, s.Pool().QueryRow(context.Background(), `SELECT count(*) FROM mentions`).Scan(&n))
	return n
}

func TestIngestDeduplicatesAndScores(t *testing.T) {
	s := testStore(t)
	seedBrand(t, s, "acme")
	ts := newAPI(t, s)

	a := send(t, "POST", ts.URL+"/v1/mentions", "application/x-ndjson", ndjson("acme", "1", "2", "2"), nil)
	require.Equal(t, http.StatusOK, a.status, a.body)
	require.Equal(t, map[string]any{"received": 3.0, "inserted": 2.0, "duplicates": 1.0}, a.body)

	arr := `[{"source":"x","external_id":"2","text":"fine","created_at":"2026-11-25T11:59:00Z"},
	         {"source":"x","external_id":"3","text":"lovely","created_at":"2026-11-25T11:59:30Z","sentiment":{"score":0.9}}]`
	a = send(t, "POST", ts.URL+"/v1/mentions?brand=acme", "application/json", []byte(arr), nil)
	require.Equal(t, http.StatusOK, a.status, a.body)
	require.Equal(t, map[string]any{"received": 2.0, "inserted": 1.0, "duplicates": 1.0}, a.body, "a resent mention is a duplicate")

	a = send(t, "GET", ts.URL+"/v1/mentions?brand=acme&sentiment=negative", "", nil, nil)
	require.Equal(t, http.StatusOK, a.status, a.body)
	require.Len(t, a.body["mentions"], 2, "the lexicon scored the mentions without a sentiment")
	a = send(t, "GET", ts.URL+"/v1/mentions?brand=acme&sentiment=positive", "", nil, nil)
	m := a.body["mentions"].([]any)[0].(map[string]any)
	require.Equal(t, "provider", m["sentiment"].(map[string]any)["source"], "provider-supplied sentiment wins")

	csv := "brand,source,external_id,text,created_at,topics\nacme,web,9,\"so awful, really\",2026-11-25T11:00:00Z,delivery;refunds\n"
	a = send(t, "POST", ts.URL+"/v1/mentions", "text/csv", []byte(csv), nil)
	require.Equal(t, http.StatusOK, a.status, a.body)
	a = send(t, "GET", ts.URL+"/v1/mentions?brand=acme&topic=refunds", "", nil, nil)
	require.Len(t, a.body["mentions"], 1)
	require.Equal(t, 4, countMentions(t, s))
}

func TestIngestRejectsBadInputAndWritesNothing(t *testing.T) {
	s := testStore(t)
	seedBrand(t, s, "acme")
	ts := newAPI(t, s)
	for _, tc := range []struct {
		name, body, field string
		status            int
	}{
		{"missing external id", `{"brand":"acme","source":"x","text":"a","created_at":"2026-11-25T11:00:00Z"}`, "line 2.external_id", 422},
		{"unknown brand", `{"brand":"nobody","source":"x","external_id":"b","created_at":"2026-11-25T11:00:00Z"}`, "line 2.brand", 422},
		{"bad time", `{"brand":"acme","source":"x","external_id":"b","created_at":"yesterday"}`, "line 2.created_at", 422},
		{"sentiment out of range", `{"brand":"acme","source":"x","external_id":"b","created_at":"2026-11-25T11:00:00Z","sentiment":{"score":3}}`, "line 2.sentiment.score", 422},
		{"unknown field", `{"brand":"acme","source":"x","external_id":"b","created_at":"2026-11-25T11:00:00Z","likes":3}`, "body", 400},
		{"wrong type", `{"brand":"acme","source":"x","external_id":"b","created_at":"2026-11-25T11:00:00Z","author":{"followers":"many"}}`, "line 2.author.followers", 422},
		{"not json", `hello`, "body", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := string(ndjson("acme", "ok")) + tc.body + "\n"
			a := send(t, "POST", ts.URL+"/v1/mentions", "application/x-ndjson", []byte(body), nil)
			require.Equal(t, tc.status, a.status, a.body)
			require.Equal(t, tc.field, a.body["field"], a.body)
			require.Equal(t, 0, countMentions(t, s), "a bad mention rejects the whole request before anything is written")
		})
	}
	big := bytes.Repeat([]byte(" "), server.MaxMentionsBody+1)
	a := send(t, "POST", ts.URL+"/v1/mentions", "application/x-ndjson", big, nil)
	require.Equal(t, http.StatusRequestEntityTooLarge, a.status)
}

func TestSignedHookRejectsEveryBadSignatureBeforeWriting(t *testing.T) {
	s := testStore(t)
	seedBrand(t, s, "acme")
	seedBrand(t, s, "other")
	ts := newAPI(t, s)
	a := send(t, "POST", ts.URL+"/v1/brands/acme/sources", "application/json", []byte(`{"name":"provider"}`), nil)
	require.Equal(t, http.StatusCreated, a.status, a.body)
	secret := []byte(a.body["secret"].(string))
	a = send(t, "POST", ts.URL+"/v1/brands/other/sources", "application/json", []byte(`{"name":"rival"}`), nil)
	otherSecret := []byte(a.body["secret"].(string))
	a = send(t, "POST", ts.URL+"/v1/brands/acme/sources", "application/json", []byte(`{"name":"provider"}`), nil)
	require.Equal(t, http.StatusConflict, a.status)

	body := ndjson("", "h1", "h2")
	ts0 := strconv.FormatInt(clock.Unix(), 10)
	url := ts.URL + "/v1/hooks/mentions/provider"
	for _, tc := range []struct {
		name, ts, sig, url, detail string
		body                       []byte
	}{
		{"no timestamp", "", listening.Sign(secret, clock, body), url, "missing X-Cmo-Timestamp", body},
		{"timestamp not a number", "soon", listening.Sign(secret, clock, body), url, "not a Unix time", body},
		{"timestamp too old", strconv.FormatInt(clock.Add(-301*time.Second).Unix(), 10), listening.Sign(secret, clock.Add(-301*time.Second), body), url, "300 seconds", body},
		{"timestamp in the future", strconv.FormatInt(clock.Add(301*time.Second).Unix(), 10), listening.Sign(secret, clock.Add(301*time.Second), body), url, "300 seconds", body},
		{"no signature", ts0, "", url, "missing X-Cmo-Signature", body},
		{"garbage signature", ts0, "v1=zz", url, "does not match", body},
		{"wrong scheme", ts0, strings.Replace(listening.Sign(secret, clock, body), "v1=", "v0=", 1), url, "does not match", body},
		{"other source's secret", ts0, listening.Sign(otherSecret, clock, body), url, "does not match", body},
		{"body altered", ts0, listening.Sign(secret, clock, body), url, "does not match", append(bytes.Clone(body), ' ')},
		{"timestamp altered", strconv.FormatInt(clock.Unix()+1, 10), listening.Sign(secret, clock, body), url, "does not match", body},
		{"unknown source", ts0, listening.Sign(secret, clock, body), ts.URL + "/v1/hooks/mentions/nobody", "unknown mention source", body},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string]string{}
			if tc.ts != "" {
				h[listening.HeaderTimestamp] = tc.ts
			}
			if tc.sig != "" {
				h[listening.HeaderSignature] = tc.sig
			}
			a := send(t, "POST", tc.url, "application/x-ndjson", tc.body, h)
			require.Equal(t, http.StatusUnauthorized, a.status, a.body)
			require.Contains(t, a.body["detail"], tc.detail)
			require.Equal(t, 0, countMentions(t, s))
		})
	}

	good := map[string]string{listening.HeaderTimestamp: ts0, listening.HeaderSignature: "v1=00," + listening.Sign(secret, clock, body)}
	a = send(t, "POST", url, "application/x-ndjson", body, good)
	require.Equal(t, http.StatusOK, a.status, a.body)
	require.EqualValues(t, 2, a.body["inserted"], "one matching signature among several is enough; the source's brand is the default")
	a = send(t, "POST", url, "application/x-ndjson", body, good)
	require.EqualValues(t, 2, a.body["duplicates"], "a replayed delivery inside the window adds nothing")

	foreign := ndjson("other", "h3")
	a = send(t, "POST", url, "application/x-ndjson", foreign, map[string]string{listening.HeaderTimestamp: ts0, listening.HeaderSignature: listening.Sign(secret, clock, foreign)})
	require.Equal(t, http.StatusUnprocessableEntity, a.status, "a source delivers for its own brand only")
	require.Equal(t, 2, countMentions(t, s))
}

// TestIngestAnswers503WhileTheDatabaseIsDown stops PostgreSQL under a
// running API: a request while it is down gets 503 with Retry-After, and
// every mention that was acknowledged, before or after, is stored.
func TestIngestAnswers503WhileTheDatabaseIsDown(t *testing.T) {
	if _, err := pgcluster.BinDir(); err != nil {
		t.Skip("PostgreSQL server binaries are not installed:", err)
	}
	dir, err := os.MkdirTemp("", "cmo-pg-503-*")
	require.NoError(t, err)
	require.NoError(t, os.Chmod(dir, 0o755))
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	port, err := pgcluster.FreePort()
	require.NoError(t, err)
	ctx := context.Background()
	pg, err := pgcluster.Start(ctx, pgcluster.Options{Dir: dir, Port: port})
	require.NoError(t, err)
	t.Cleanup(func() { _ = pg.Stop() })
	pool, err := store.Connect(ctx, pg.URL())
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	require.NoError(t, store.Migrate(ctx, pool, nil))
	box, err := sealbox.New(bytes.Repeat([]byte{3}, 32))
	require.NoError(t, err)
	s := store.New(pool, box)
	seedBrand(t, s, "acme")
	ts := newAPI(t, s)

	acked := map[string]bool{}
	post := func(ids ...string) answer {
		a := send(t, "POST", ts.URL+"/v1/mentions", "application/x-ndjson", ndjson("acme", ids...), nil)
		if a.status == http.StatusOK {
			for _, id := range ids {
				acked[id] = true
			}
		}
		return a
	}
	require.Equal(t, http.StatusOK, post("1", "2").status)

	require.NoError(t, pg.Stop())
	a := post("3", "4")
	require.Equal(t, http.StatusServiceUnavailable, a.status, a.body)
	require.Equal(t, "5", a.header.Get("Retry-After"))
	require.Equal(t, "urn:cmo:problem:unavailable", a.body["type"])

	pg, err = pgcluster.Start(ctx, pgcluster.Options{Dir: dir, Port: port})
	require.NoError(t, err)
	t.Cleanup(func() { _ = pg.Stop() })
	require.Equal(t, http.StatusOK, post("3", "4", "5").status, "the client sends the refused mentions again")

	rows, err := pool.Query(ctx, `SELECT external_id FROM mentions`)
	require.NoError(t, err)
	stored := map[string]bool{}
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		stored[id] = true
	}
	require.NoError(t, rows.Err())
	require.Equal(t, acked, stored, "every acknowledged mention is stored, nothing else")
}

func TestSimulationsAPI(t *testing.T) {
	s := testStore(t)
	ts := newAPI(t, s)
	start := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	var ms []map[string]any
	for i := range 40 {
		ms = append(ms, map[string]any{"source": "x", "external_id": strconv.Itoa(i), "text": "awful, still waiting for my refund",
			"created_at": start.Add(time.Duration(i) * time.Second).Format(time.RFC3339)})
	}
	body := func(v map[string]any) []byte {
		raw, err := json.Marshal(v)
		require.NoError(t, err)
		return raw
	}
	a := send(t, "POST", ts.URL+"/v1/simulations", "application/json",
		body(map[string]any{"playbook": "negative-spike", "mentions": ms, "ack_after": "5m", "tail": "7h"}), nil)
	require.Equal(t, http.StatusOK, a.status, a.body)
	res := a.body["results"].([]any)[0].(map[string]any)
	crises := res["crises"].([]any)
	require.Len(t, crises, 1)
	c := crises[0].(map[string]any)
	require.Len(t, c["pages"], 1)
	require.NotNil(t, c["resolved_at"])

	for _, tc := range []struct {
		req   map[string]any
		field string
	}{
		{map[string]any{"mentions": ms}, "playbook"},
		{map[string]any{"playbook": "first-campaign", "mentions": ms}, "playbook"},
		{map[string]any{"playbook": "negative-spike"}, "mentions"},
		{map[string]any{"playbook": "negative-spike", "mentions": ms, "ack_after": "soon"}, "ack_after"},
		{map[string]any{"playbook": "negative-spike", "mentions": []any{map[string]any{"source": "x", "created_at": "2026-11-02T10:00:00Z"}}}, "mentions[0].external_id"},
		{map[string]any{"yaml": "kind: Crisis\n", "mentions": ms}, "playbook_yaml"},
	} {
		a := send(t, "POST", ts.URL+"/v1/simulations", "application/json", body(tc.req), nil)
		require.Equal(t, http.StatusUnprocessableEntity, a.status, a.body)
		require.Equal(t, tc.field, a.body["field"], a.body)
	}
}
