package main

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Auth mints and checks HS256 JWTs with a secret this backend shares with
// the PowerSync Service (whose client_auth lists the same key), the way the
// PowerSync demo backends hand out tokens. A real application would sign
// users in first; this development backend gives a token to whoever asks.
//
// Signing and verification are github.com/golang-jwt/jwt/v5's. A token is
// accepted only if it is signed with HS256 (the algorithm is pinned: "none",
// other HMAC sizes and public-key algorithms are refused, whatever the
// header says) with Secret, its "kid" header is KeyID (when KeyID is set),
// its "aud" claim (a string or an array) contains Audience, it has an "exp"
// claim that has not passed, a "nbf" claim, if any, that has, and a
// non-empty "sub".
type Auth struct {
	Secret   []byte        // HS256 key
	KeyID    string        // "kid" header, matching the service's key
	Audience string        // "aud" claim the service expects
	TTL      time.Duration // token lifetime
	Now      func() time.Time
}

func (a *Auth) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// Mint returns a token for userID and its expiry time: HS256 with header
// {"alg": "HS256", "typ": "JWT", "kid": KeyID} and claims sub, aud (a
// string), iat and exp.
func (a *Auth) Mint(userID string) (string, time.Time, error) {
	now := a.now()
	exp := now.Add(a.TTL)
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": userID, "aud": a.Audience, "iat": now.Unix(), "exp": exp.Unix(),
	})
	t.Header["kid"] = a.KeyID
	s, err := t.SignedString(a.Secret)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign token: %w", err)
	}
	return s, exp, nil
}

// errToken is the error for a token that is missing, malformed, badly
// signed, expired, for another key or for another audience. The cause is
// wrapped, for the log; clients only see "invalid token".
var errToken = errors.New("invalid token")

// Verify checks a token and returns its subject (the user id). The error
// wraps errToken.
func (a *Auth) Verify(token string) (string, error) {
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithAudience(a.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(a.now),
	)
	var claims jwt.RegisteredClaims
	_, err := p.ParseWithClaims(token, &claims, func(t *jwt.Token) (any, error) {
		if kid, _ := t.Header["kid"].(string); a.KeyID != "" && kid != a.KeyID {
			return nil, fmt.Errorf("key id %q, want %q", kid, a.KeyID)
		}
		return a.Secret, nil
	})
	if err != nil {
		return "", fmt.Errorf("%w: %w", errToken, err)
	}
	if claims.Subject == "" {
		return "", fmt.Errorf("%w: no subject", errToken)
	}
	return claims.Subject, nil
}

// Require wraps h so that it runs only for requests with a valid
// "Authorization: Token <jwt>" (or "Bearer <jwt>") header.
func (a *Auth) Require(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v := r.Header.Get("Authorization")
		token, ok := strings.CutPrefix(v, "Token ")
		if !ok {
			token, ok = strings.CutPrefix(v, "Bearer ")
		}
		if !ok {
			writeError(w, http.StatusUnauthorized, "missing Authorization: Token <jwt>", nil)
			return
		}
		if _, err := a.Verify(token); err != nil {
			writeError(w, http.StatusUnauthorized, errToken.Error(), nil)
			return
		}
		h(w, r)
	}
}

// ServeToken handles GET /api/auth/token?user_id=ID: it answers
// {"token": …, "powersync_url": …, "expires_at": …} for the user, as the
// PowerSync demo backends do.
func (a *Auth) ServeToken(powersyncURL string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		user := r.URL.Query().Get("user_id")
		if user == "" {
			writeError(w, http.StatusBadRequest, "user_id is required", nil)
			return
		}
		token, exp, err := a.Mint(user)
		if err != nil {
			writeError(w, http.StatusInternalServerError, fmt.Sprintf("mint token: %v", err), nil)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"token": token, "powersync_url": powersyncURL, "expires_at": exp.UTC().Format(time.RFC3339),
		})
	}
}
