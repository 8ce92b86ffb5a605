package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Auth mints and checks HS256 JWTs with a secret this backend shares with
// the PowerSync Service (whose client_auth lists the same key), the way the
// PowerSync demo backends hand out tokens. A real application would sign
// users in first; this development backend gives a token to whoever asks.
type Auth struct {
	Secret   []byte        // HS256 key
	KeyID    string        // "kid" header, matching the service's key
	Audience string        // "aud" claim the service expects
	TTL      time.Duration // token lifetime
	Now      func() time.Time
}

var b64 = base64.RawURLEncoding

func (a *Auth) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// Mint returns a token for userID and its expiry time.
func (a *Auth) Mint(userID string) (string, time.Time, error) {
	now := a.now()
	exp := now.Add(a.TTL)
	header, err := json.Marshal(map[string]string{"alg": "HS256", "typ": "JWT", "kid": a.KeyID})
	if err != nil {
		return "", time.Time{}, err
	}
	claims, err := json.Marshal(map[string]any{
		"sub": userID, "aud": a.Audience, "iat": now.Unix(), "exp": exp.Unix(),
	})
	if err != nil {
		return "", time.Time{}, err
	}
	signing := b64.EncodeToString(header) + "." + b64.EncodeToString(claims)
	return signing + "." + b64.EncodeToString(a.sign(signing)), exp, nil
}

func (a *Auth) sign(s string) []byte {
	m := hmac.New(sha256.New, a.Secret)
	m.Write([]byte(s))
	return m.Sum(nil)
}

// errToken is the error for a token that is missing, malformed, badly
// signed, expired or for another audience.
var errToken = errors.New("invalid token")

// Verify checks a token and returns its subject (the user id).
func (a *Auth) Verify(token string) (string, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", errToken
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, a.sign(parts[0]+"."+parts[1])) {
		return "", errToken
	}
	var header struct {
		Alg string `json:"alg"`
	}
	if h, err := b64.DecodeString(parts[0]); err != nil || json.Unmarshal(h, &header) != nil || header.Alg != "HS256" {
		return "", errToken
	}
	var claims struct {
		Sub string          `json:"sub"`
		Aud json.RawMessage `json:"aud"`
		Exp int64           `json:"exp"`
	}
	c, err := b64.DecodeString(parts[1])
	if err != nil || json.Unmarshal(c, &claims) != nil {
		return "", errToken
	}
	if claims.Sub == "" || a.now().Unix() >= claims.Exp || !audienceHas(claims.Aud, a.Audience) {
		return "", errToken
	}
	return claims.Sub, nil
}

// audienceHas reports whether an aud claim (a string or an array of
// strings) contains aud.
func audienceHas(raw json.RawMessage, aud string) bool {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return one == aud
	}
	var many []string
	return json.Unmarshal(raw, &many) == nil && slices.Contains(many, aud)
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
			writeError(w, http.StatusUnauthorized, err.Error(), nil)
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
