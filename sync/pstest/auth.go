package pstest

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"strings"
	"time"
)

// Claims are the claims of a development token.
type Claims struct {
	Subject   string         // sub: the user id
	Audience  []string       // aud (one value is encoded as a string)
	IssuedAt  time.Time      // iat
	ExpiresAt time.Time      // exp
	Extra     map[string]any // further claims, e.g. "parameters"
}

// MintToken signs claims as an HS256 JWT with secret, the way PowerSync
// development tokens are made.
func MintToken(secret []byte, c Claims) (string, error) {
	payload := map[string]any{}
	for k, v := range c.Extra {
		payload[k] = v
	}
	payload["sub"] = c.Subject
	switch len(c.Audience) {
	case 0:
	case 1:
		payload["aud"] = c.Audience[0]
	default:
		payload["aud"] = c.Audience
	}
	if !c.IssuedAt.IsZero() {
		payload["iat"] = c.IssuedAt.Unix()
	}
	if !c.ExpiresAt.IsZero() {
		payload["exp"] = c.ExpiresAt.Unix()
	}
	body, err := json.Marshal(payload)
	if err != nil {
		return "", fmt.Errorf("powersync: pstest: encode token claims: %w", err)
	}
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString(body)
	return signing + "." + enc.EncodeToString(sign(secret, signing)), nil
}

func sign(secret []byte, signing string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(signing))
	return m.Sum(nil)
}

// Token mints a token for userID, valid for an hour, signed with the
// server's secret and carrying its first audience.
func (s *Server) Token(userID string) string {
	return s.TokenWithTTL(userID, time.Hour)
}

// TokenWithTTL mints a token for userID that expires after ttl.
func (s *Server) TokenWithTTL(userID string, ttl time.Duration) string {
	now := s.cfg.now()
	// A random jti keeps tokens minted in the same second distinct, so
	// ExpireTokens revokes exactly the tokens that existed before it.
	tok, _ := MintToken(s.cfg.secret, Claims{Subject: userID, Audience: s.cfg.audiences[:min(1, len(s.cfg.audiences))],
		IssuedAt: now, ExpiresAt: now.Add(ttl), Extra: map[string]any{"jti": rand.Text()}})
	s.mu.Lock()
	s.tokens[tok] = struct{}{}
	s.mu.Unlock()
	return tok
}

// ExpireTokens makes every token the server has minted or seen so far count
// as expired: requests with them get 401 (PSYNC_S2103) and streams using
// them send token_expires_in 0 and end. Tokens minted afterwards are valid.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for t := range s.tokens {
		s.expired[t] = struct{}{}
	}
	s.notifyLocked()
}

// identity is an authenticated request's token.
type identity struct {
	token  string
	userID string
	exp    time.Time
	claims map[string]any
}

var authHeader = regexp.MustCompile(`^(Token|Bearer) (\S+)$`)

func authError(code, details string) *serviceError {
	return &serviceError{Status: http.StatusUnauthorized, Code: code, Name: "AuthorizationError",
		Description: "Authentication failed", Details: details}
}

// authenticate checks the request's token as the service does.
func (s *Server) authenticate(r *http.Request) (*identity, *serviceError) {
	m := authHeader.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		return nil, authError("PSYNC_S2106", "Authentication required: the Authorization header must be \"Token <jwt>\" or \"Bearer <jwt>\"")
	}
	tok := m[2]
	claims, err := verifyHS256(s.cfg.secret, tok)
	if err != nil {
		if errors.Is(err, errSignature) {
			return nil, authError("PSYNC_S2102", err.Error())
		}
		return nil, authError("PSYNC_S2101", err.Error())
	}
	now := s.cfg.now()
	exp, ok := numericClaim(claims, "exp")
	if !ok {
		return nil, authError("PSYNC_S2101", "Token has no exp claim")
	}
	expAt := time.Unix(int64(exp), 0)
	s.mu.Lock()
	_, revoked := s.expired[tok]
	if !revoked {
		s.tokens[tok] = struct{}{}
	}
	s.mu.Unlock()
	if revoked || !now.Before(expAt) {
		return nil, authError("PSYNC_S2103", "Token has expired")
	}
	if iat, ok := numericClaim(claims, "iat"); ok {
		if float64(s.cfg.maxLifetime/time.Second) < exp-iat {
			return nil, authError("PSYNC_S2104", fmt.Sprintf("Token must expire in a maximum of %d seconds",
				int64(s.cfg.maxLifetime/time.Second)))
		}
	} else if expAt.Sub(now) > s.cfg.maxLifetime {
		return nil, authError("PSYNC_S2104", fmt.Sprintf("Token must expire in a maximum of %d seconds",
			int64(s.cfg.maxLifetime/time.Second)))
	}
	if !audienceOK(claims["aud"], s.cfg.audiences) {
		return nil, authError("PSYNC_S2105", fmt.Sprintf("Unexpected \"aud\" claim value: %v", claims["aud"]))
	}
	sub, _ := claims["sub"].(string)
	if sub == "" {
		return nil, authError("PSYNC_S2101", "Token has no sub claim")
	}
	return &identity{token: tok, userID: sub, exp: expAt, claims: claims}, nil
}

var errSignature = errors.New("could not verify the token signature")

// verifyHS256 checks an HS256 JWT's signature and returns its claims.
func verifyHS256(secret []byte, tok string) (map[string]any, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, errors.New("token is not a JWT")
	}
	enc := base64.RawURLEncoding
	hb, err := enc.DecodeString(parts[0])
	if err != nil {
		return nil, errors.New("token header is not base64url")
	}
	var header struct {
		Alg string `json:"alg"`
	}
	if err := json.Unmarshal(hb, &header); err != nil {
		return nil, errors.New("token header is not JSON")
	}
	if header.Alg != "HS256" {
		return nil, fmt.Errorf("unexpected token algorithm %q", header.Alg)
	}
	sig, err := enc.DecodeString(parts[2])
	if err != nil {
		return nil, errSignature
	}
	if !hmac.Equal(sig, sign(secret, parts[0]+"."+parts[1])) {
		return nil, errSignature
	}
	pb, err := enc.DecodeString(parts[1])
	if err != nil {
		return nil, errors.New("token payload is not base64url")
	}
	dec := json.NewDecoder(bytes.NewReader(pb))
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil || claims == nil {
		return nil, errors.New("token payload is not a JSON object")
	}
	return claims, nil
}

func numericClaim(claims map[string]any, name string) (float64, bool) {
	v, ok := claims[name].(float64)
	if !ok || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false
	}
	return v, true
}

func audienceOK(aud any, allowed []string) bool {
	var got []string
	switch a := aud.(type) {
	case string:
		got = []string{a}
	case []any:
		for _, x := range a {
			if s, ok := x.(string); ok {
				got = append(got, s)
			}
		}
	}
	for _, g := range got {
		for _, w := range allowed {
			if g == w {
				return true
			}
		}
	}
	return false
}
