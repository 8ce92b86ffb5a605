package main

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestVerify checks which tokens Auth accepts: only HS256 with the secret,
// the key id, the audience, an exp that has not passed and a subject.
func TestVerify(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	auth := &Auth{Secret: []byte("secret of 32 bytes for the tests"), KeyID: "k1", Audience: "powersync-dev", TTL: time.Hour,
		Now: func() time.Time { return now }}
	valid := jwt.MapClaims{"sub": user1, "aud": "powersync-dev", "iat": now.Unix(), "exp": now.Add(time.Minute).Unix()}
	with := func(k string, v any) jwt.MapClaims {
		c := jwt.MapClaims{}
		for k, v := range valid {
			c[k] = v
		}
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	// sign signs claims with method and key, with kid in the header unless
	// it is "".
	sign := func(m jwt.SigningMethod, kid string, c jwt.MapClaims, key any) string {
		t.Helper()
		tok := jwt.NewWithClaims(m, c)
		if kid != "" {
			tok.Header["kid"] = kid
		}
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	minted, exp, err := auth.Mint(user1)
	if err != nil {
		t.Fatal(err)
	}
	if !exp.Equal(now.Add(time.Hour)) {
		t.Errorf("Mint expiry %v, want %v", exp, now.Add(time.Hour))
	}
	hs256 := jwt.SigningMethodHS256
	tests := []struct {
		name  string
		token string
		ok    bool
	}{
		{"minted", minted, true},
		{"valid", sign(hs256, "k1", valid, auth.Secret), true},
		{"audience in an array", sign(hs256, "k1", with("aud", []string{"other", "powersync-dev"}), auth.Secret), true},
		{"nbf passed", sign(hs256, "k1", with("nbf", now.Unix()), auth.Secret), true},
		{"other secret", sign(hs256, "k1", valid, []byte("another secret of 32 bytes, too!")), false},
		{"other key id", sign(hs256, "k2", valid, auth.Secret), false},
		{"no key id", sign(hs256, "", valid, auth.Secret), false},
		{"other audience", sign(hs256, "k1", with("aud", "other"), auth.Secret), false},
		{"audience not in the array", sign(hs256, "k1", with("aud", []string{"a", "b"}), auth.Secret), false},
		{"no audience", sign(hs256, "k1", with("aud", nil), auth.Secret), false},
		{"expired", sign(hs256, "k1", with("exp", now.Add(-time.Second).Unix()), auth.Secret), false},
		{"expires now", sign(hs256, "k1", with("exp", now.Unix()), auth.Secret), false},
		{"no exp", sign(hs256, "k1", with("exp", nil), auth.Secret), false},
		{"not yet valid", sign(hs256, "k1", with("nbf", now.Add(time.Minute).Unix()), auth.Secret), false},
		{"no subject", sign(hs256, "k1", with("sub", nil), auth.Secret), false},
		{"alg none", sign(jwt.SigningMethodNone, "k1", valid, jwt.UnsafeAllowNoneSignatureType), false},
		{"HS384 with the secret", sign(jwt.SigningMethodHS384, "k1", valid, auth.Secret), false},
		{"HS512 with the secret", sign(jwt.SigningMethodHS512, "k1", valid, auth.Secret), false},
		{"garbage", "a.b.c", false},
		{"empty", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sub, err := auth.Verify(tc.token)
			switch {
			case tc.ok && (err != nil || sub != user1):
				t.Errorf("Verify = %q, %v; want %q", sub, err, user1)
			case !tc.ok && err == nil:
				t.Errorf("Verify accepted it (sub %q)", sub)
			case !tc.ok && !errors.Is(err, errToken):
				t.Errorf("Verify error %v does not wrap errToken", err)
			}
		})
	}

	later := *auth
	later.Now = func() time.Time { return now.Add(2 * time.Hour) }
	if _, err := later.Verify(minted); err == nil {
		t.Error("a minted token is still accepted after its TTL")
	}
}

// TestRequire checks the Authorization header forms and that a refused
// token gets 401 without reaching the handler.
func TestRequire(t *testing.T) {
	auth := &Auth{Secret: []byte("secret of 32 bytes for the tests"), KeyID: "k1", Audience: "powersync-dev", TTL: time.Hour}
	tok, _, err := auth.Mint(user1)
	if err != nil {
		t.Fatal(err)
	}
	h := auth.Require(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	for _, tc := range []struct {
		header string
		status int
	}{
		{"Token " + tok, http.StatusNoContent},
		{"Bearer " + tok, http.StatusNoContent},
		{"", http.StatusUnauthorized},
		{tok, http.StatusUnauthorized},
		{"Basic " + tok, http.StatusUnauthorized},
		{"Token " + tok + "x", http.StatusUnauthorized},
	} {
		req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/api/data", nil)
		if tc.header != "" {
			req.Header.Set("Authorization", tc.header)
		}
		rec := httptest.NewRecorder()
		h(rec, req)
		if rec.Code != tc.status {
			t.Errorf("Authorization %.20q: status %d, want %d", tc.header, rec.Code, tc.status)
		}
	}
}
