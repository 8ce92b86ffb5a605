package pstest

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Claims are the claims of a development token.
type Claims struct {
	Subject   string         // sub: the user id (omitted when empty)
	Audience  []string       // aud (one value is encoded as a string)
	IssuedAt  time.Time      // iat
	ExpiresAt time.Time      // exp
	Extra     map[string]any // further claims, e.g. "parameters"
	KeyID     string         // kid of the token's header (omitted when empty)
}

// MintToken signs claims as an HS256 JWT with secret, the way PowerSync
// development tokens are made.
func MintToken(secret []byte, c Claims) (string, error) {
	payload := map[string]any{}
	for k, v := range c.Extra {
		payload[k] = v
	}
	if c.Subject != "" {
		payload["sub"] = c.Subject
	}
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
	header := `{"alg":"HS256","typ":"JWT"}`
	if c.KeyID != "" {
		kid, _ := json.Marshal(c.KeyID)
		header = `{"alg":"HS256","typ":"JWT","kid":` + string(kid) + `}`
	}
	signing := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString(body)
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
		IssuedAt: now, ExpiresAt: now.Add(ttl), Extra: map[string]any{"jti": rand.Text()}, KeyID: s.cfg.keyID})
	s.mu.Lock()
	s.tokens[tok] = struct{}{}
	s.mu.Unlock()
	return tok
}

// ExpireTokens makes every token the server has minted or seen so far count
// as expired: requests with them get 401 (PSYNC_S2103, "JWT has expired") and streams using
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

// authError is the service's 401 answer: the message is the description.
func authError(code, description string) *serviceError {
	return &serviceError{Status: http.StatusUnauthorized, Code: code, Name: "wr", Description: description}
}

// clockTolerance is how long after exp the service still accepts a token
// (its streams then send token_expires_in 0 and end).
const clockTolerance = 60 * time.Second

// allowedAlgs are the JWT algorithms the service's verifier accepts at all.
var allowedAlgs = map[string]bool{"HS256": true, "HS384": true, "HS512": true, "RS256": true, "RS384": true,
	"RS512": true, "ES256": true, "ES384": true, "ES512": true, "EdDSA": true}

const (
	msgNotJWT = "Token is not a well-formed JWT. Check the token format."
	msgNoKey  = "Could not find an appropriate key in the keystore. The key is missing or no key matched the token KID"
)

// authenticate checks the request's token as the service does: a keystore
// with one HS256 key (with the WithKeyID kid, if set), a 60 s clock
// tolerance, the sub, iat and exp claims required, an aud the server
// accepts and a lifetime (exp - iat) of at most a day.
func (s *Server) authenticate(r *http.Request) (*identity, *serviceError) {
	m := authHeader.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		return nil, authError("PSYNC_S2106", "Authentication required")
	}
	tok := m[2]
	claims, aerr := s.verifyToken(tok)
	if aerr != nil {
		return nil, aerr
	}
	now := s.cfg.now().Unix()
	exp, _ := claims["exp"].(float64)
	s.mu.Lock()
	_, revoked := s.expired[tok]
	if !revoked {
		s.tokens[tok] = struct{}{}
	}
	s.mu.Unlock()
	if revoked || exp <= float64(now)-clockTolerance.Seconds() {
		return nil, authError("PSYNC_S2103", "JWT has expired")
	}
	aud := claims["aud"]
	if aud == nil {
		return nil, authError("PSYNC_S2105", `JWT payload is missing a required claim "aud"`)
	}
	if !audienceOK(aud, s.cfg.audiences) {
		a, _ := json.Marshal(aud)
		return nil, authError("PSYNC_S2105", fmt.Sprintf("Unexpected \"aud\" claim value: %s", a))
	}
	iat, _ := claims["iat"].(float64)
	maxSecs := int64(s.cfg.maxLifetime / time.Second)
	if life := exp - iat; life > float64(maxSecs) {
		return nil, authError("PSYNC_S2104", fmt.Sprintf("Token must expire in a maximum of %d seconds, got %ss",
			maxSecs, strconv.FormatFloat(life, 'f', -1, 64)))
	}
	if p, ok := claims["parameters"]; ok && p != nil {
		if _, isObj := p.(map[string]any); !isObj {
			return nil, authError("PSYNC_S2101", "Payload parameters must be an object")
		}
	}
	var userID string
	switch sub := claims["sub"].(type) {
	case string:
		userID = sub
	default:
		b, _ := json.Marshal(sub)
		userID = string(b)
	}
	return &identity{token: tok, userID: userID, exp: time.Unix(int64(exp), 0), claims: claims}, nil
}

// verifyToken checks a JWT's form, algorithm, key and signature and its
// registered claims, with the service's messages.
func (s *Server) verifyToken(tok string) (map[string]any, *serviceError) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, authError("PSYNC_S2101", msgNotJWT)
	}
	enc := base64.RawURLEncoding
	hb, err := enc.DecodeString(parts[0])
	if err != nil {
		return nil, authError("PSYNC_S2101", msgNotJWT)
	}
	var header map[string]any
	if err := json.Unmarshal(hb, &header); err != nil || header == nil {
		return nil, authError("PSYNC_S2101", msgNotJWT)
	}
	alg, ok := header["alg"].(string)
	if !ok || alg == "" {
		return nil, authError("PSYNC_S2101", msgNotJWT)
	}
	if !allowedAlgs[alg] {
		return nil, authError("PSYNC_S2101", `"alg" (Algorithm) Header Parameter not allowed`)
	}
	sig, sigErr := enc.DecodeString(parts[2])
	valid := sigErr == nil && alg == "HS256" && hmac.Equal(sig, sign(s.cfg.secret, parts[0]+"."+parts[1]))
	kid, _ := header["kid"].(string)
	switch {
	case s.cfg.keyID != "" && kid == s.cfg.keyID:
		if alg != "HS256" {
			return nil, authError("PSYNC_S2101", "Unexpected token algorithm "+alg)
		}
		if sigErr != nil {
			return nil, authError("PSYNC_S2101", msgNotJWT)
		}
		if !valid {
			return nil, authError("PSYNC_S2101", "signature verification failed")
		}
	case s.cfg.keyID != "" || !valid:
		// A key without a kid is tried for any token; a key with one only
		// for tokens naming it.
		return nil, authError("PSYNC_S2101", msgNoKey)
	}
	pb, err := enc.DecodeString(parts[1])
	if err != nil {
		return nil, authError("PSYNC_S2101", msgNotJWT)
	}
	dec := json.NewDecoder(bytes.NewReader(pb))
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil || claims == nil {
		return nil, authError("PSYNC_S2101", msgNotJWT)
	}
	for _, c := range []string{"exp", "iat", "sub"} {
		if _, ok := claims[c]; !ok {
			return nil, authError("PSYNC_S2101", fmt.Sprintf("JWT payload is missing a required claim %q", c))
		}
	}
	now := float64(s.cfg.now().Unix())
	if _, ok := claims["iat"].(float64); !ok {
		return nil, authError("PSYNC_S2101", `JWT payload is missing a required claim "iat"`)
	}
	if nbf, ok := claims["nbf"]; ok {
		if n, isNum := nbf.(float64); !isNum || n > now+clockTolerance.Seconds() {
			return nil, authError("PSYNC_S2101", `JWT payload is missing a required claim "nbf"`)
		}
	}
	if _, ok := claims["exp"].(float64); !ok {
		return nil, authError("PSYNC_S2101", `JWT payload is missing a required claim "exp"`)
	}
	return claims, nil
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
