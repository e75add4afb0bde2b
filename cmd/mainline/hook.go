package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
)

// signBody returns the X-Hub-Signature-256 value GitHub sends for body:
// the HMAC-SHA256 of the body under the webhook secret.
func signBody(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}
