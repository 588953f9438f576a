// Package access holds who may do what: the roles an API key can hold,
// the principal a request acts as, and the keys themselves (made from
// random bytes, kept only as hashes).
package access

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
)

// Role is what a key's holder does for its brands.
type Role string

// The roles, from reading only to everything.
const (
	// Viewer reads: auditors, stakeholders.
	Viewer Role = "viewer"
	// Marketer drafts, launches and runs campaigns and answers the
	// community.
	Marketer Role = "marketer"
	// Approver does what a marketer does and approves other people's
	// content (four-eyes).
	Approver Role = "approver"
	// PRLead handles crises: acknowledges, escalates, freezes, approves
	// holding statements, resolves.
	PRLead Role = "pr-lead"
	// Admin sets brands up (channels, routes, listening, keys) and may do
	// anything the others do.
	Admin Role = "admin"
)

// Roles lists every role.
var Roles = []Role{Viewer, Marketer, Approver, PRLead, Admin}

// ParseRole checks a role's name.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if slices.Contains(Roles, r) {
		return r, nil
	}
	names := make([]string, len(Roles))
	for i, r := range Roles {
		names[i] = string(r)
	}
	return "", fmt.Errorf("role must be one of %s, got %q", strings.Join(names, ", "), s)
}

// AllBrands in a key's brand list means every brand, present and future.
const AllBrands = "*"

// Principal is who a request acts as: the holder of one API key.
type Principal struct {
	KeyID  string   `json:"key_id"`
	Actor  string   `json:"actor"`
	Role   Role     `json:"role"`
	Brands []string `json:"brands"`
}

// AllBrands reports whether the key covers every brand.
func (p Principal) AllBrands() bool { return slices.Contains(p.Brands, AllBrands) }

// Covers reports whether the key may act on brand.
func (p Principal) Covers(brand string) bool {
	return p.AllBrands() || slices.Contains(p.Brands, brand)
}

// KeyPrefix starts every API key, so a leaked one is recognisable (and
// secret scanners can look for it).
const KeyPrefix = "cmo_"

// NewKey makes a key's secret and its id. The id is public (it appears in
// the audit trail); the secret is shown once.
func NewKey() (id, secret string, err error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", "", fmt.Errorf("api key: %w", err)
	}
	idRaw := make([]byte, 6)
	if _, err := rand.Read(idRaw); err != nil {
		return "", "", fmt.Errorf("api key id: %w", err)
	}
	return "key_" + hex.EncodeToString(idRaw), KeyPrefix + base64.RawURLEncoding.EncodeToString(raw), nil
}

// Hash is what is stored of a key. Keys carry 256 random bits, so a fast
// hash is as safe as a slow one and keeps every request cheap.
func Hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// ValidBrands checks a key's brand list: brand ids, or only "*".
func ValidBrands(brands []string) error {
	if len(brands) == 0 {
		return fmt.Errorf("a key needs at least one brand, or %q for all", AllBrands)
	}
	if slices.Contains(brands, AllBrands) && len(brands) > 1 {
		return fmt.Errorf("%q already means every brand; list brands or use %q alone", AllBrands, AllBrands)
	}
	for _, b := range brands {
		if strings.TrimSpace(b) == "" {
			return fmt.Errorf("brand ids must not be empty")
		}
	}
	return nil
}
