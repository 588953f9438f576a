package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/cmo-dev/cmo/devstack"
)

// The e2e tests talk to each API they start as that API's admin, unless a
// request carries a key of its own: stacks register their admin key here
// by base URL, and the default transport adds it. Requests the api helper
// sends on behalf of a named actor carry that actor's key instead, so the
// workflows see who decides (and the four-eyes rule bites).
var stackKeys = struct {
	sync.Mutex
	admin  map[string]string            // base URL → admin key
	actors map[string]map[string]string // base URL → actor → key
}{admin: map[string]string{}, actors: map[string]map[string]string{}}

func registerAPI(base, adminKey string) {
	stackKeys.Lock()
	defer stackKeys.Unlock()
	stackKeys.admin[strings.TrimRight(base, "/")] = adminKey
}

// registerDataDir registers the API of a `cmo dev` run in another process
// with the admin key it keeps in its data directory.
func registerDataDir(base, dir string) error {
	raw, err := os.ReadFile(filepath.Join(dir, devstack.APIKeyFile))
	if err != nil {
		return err
	}
	registerAPI(base, strings.TrimSpace(string(raw)))
	return nil
}

func adminKeyFor(rawURL string) string {
	stackKeys.Lock()
	defer stackKeys.Unlock()
	for base, key := range stackKeys.admin {
		if strings.HasPrefix(rawURL, base+"/") {
			return key
		}
	}
	return ""
}

// actorKey makes (once) an admin key held by actor on the API at base.
func actorKey(base, actor string) (string, error) {
	admin := adminKeyFor(base + "/")
	stackKeys.Lock()
	if k, ok := stackKeys.actors[base][actor]; ok {
		stackKeys.Unlock()
		return k, nil
	}
	stackKeys.Unlock()
	raw, _ := json.Marshal(map[string]any{"actor": actor, "role": "admin", "brands": []string{"*"}})
	req, err := http.NewRequest("POST", base+"/v1/keys", bytes.NewReader(raw))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct{ Key string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("make a key for %s: %d %v", actor, resp.StatusCode, err)
	}
	stackKeys.Lock()
	defer stackKeys.Unlock()
	if stackKeys.actors[base] == nil {
		stackKeys.actors[base] = map[string]string{}
	}
	stackKeys.actors[base][actor] = out.Key
	return out.Key, nil
}

// bodyActor is the actor (or author) a JSON body names.
func bodyActor(raw []byte) string {
	var who struct{ Actor, Author any }
	if json.Unmarshal(raw, &who) != nil {
		return ""
	}
	for _, v := range []any{who.Actor, who.Author} {
		if s, ok := v.(string); ok && s != "" {
			return s
		}
	}
	return ""
}

type adminTransport struct{ next http.RoundTripper }

func (a adminTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header.Get("Authorization") == "" && strings.Contains(r.URL.Path, "/v1/") {
		if key := adminKeyFor(r.URL.String()); key != "" {
			r = r.Clone(r.Context())
			r.Header.Set("Authorization", "Bearer "+key)
		}
	}
	return a.next.RoundTrip(r)
}

func init() {
	http.DefaultTransport = adminTransport{next: http.DefaultTransport}
}
