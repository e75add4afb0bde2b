// Package ecrtest is a fake of the Amazon ECR API for tests: an httptest
// server speaking ECR's JSON 1.1 wire protocol, to which a real
// aws-sdk-go-v2 ecr.Client is pointed with BaseEndpoint. It models
// GetAuthorizationToken only and fails the test on any other request.
//
// Tests of providers/docker import it; so may any test that needs ECR
// registry credentials.
package ecrtest

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
)

// targetPrefix is the X-Amz-Target prefix of every ECR operation.
const targetPrefix = "AmazonEC2ContainerRegistry_V20150921."

// Token is what the fake hands out from GetAuthorizationToken.
type Token struct {
	Username      string    // "AWS" for real ECR
	Password      string    // the registry password
	ProxyEndpoint string    // registry URL, e.g. "https://127.0.0.1:5000"
	ExpiresAt     time.Time // zero: 12 hours after the request
}

// Server is a fake ECR endpoint.
type Server struct {
	*httptest.Server
	t     testing.TB
	token Token

	mu    sync.Mutex
	calls int
}

// NewServer starts a fake ECR API that answers GetAuthorizationToken with
// token, and closes it when the test ends.
func NewServer(t testing.TB, token Token) *Server {
	t.Helper()
	s := &Server{t: t, token: token}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// Client returns a real ECR client pointed at the fake, with static
// credentials and no retries.
func (s *Server) Client() *ecr.Client {
	return ecr.New(ecr.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(s.URL),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDTEST", "SECRETTEST", ""),
		RetryMaxAttempts: 1,
		HTTPClient:       s.Server.Client(),
	})
}

// Calls reports how many GetAuthorizationToken requests the fake answered.
func (s *Server) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	if r.Method != http.MethodPost || r.URL.Path != "/" || target != targetPrefix+"GetAuthorizationToken" {
		s.t.Errorf("ecrtest: unexpected request %s %s (X-Amz-Target %q)", r.Method, r.URL.Path, target)
		writeError(w, http.StatusBadRequest, "UnknownOperationException", "ecrtest does not model "+target)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		s.t.Errorf("ecrtest: Content-Type %q, want application/x-amz-json-1.1", ct)
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		s.t.Errorf("ecrtest: request not signed with SigV4")
		writeError(w, http.StatusForbidden, "MissingAuthenticationTokenException", "missing signature")
		return
	}
	var in struct {
		RegistryIds []string `json:"registryIds"`
	}
	body, err := io.ReadAll(r.Body)
	if err == nil && len(body) > 0 {
		err = json.Unmarshal(body, &in)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "SerializationException", "bad request body")
		return
	}
	s.mu.Lock()
	s.calls++
	s.mu.Unlock()

	expires := s.token.ExpiresAt
	if expires.IsZero() {
		expires = time.Now().Add(12 * time.Hour)
	}
	auth := base64.StdEncoding.EncodeToString([]byte(s.token.Username + ":" + s.token.Password))
	out := map[string]any{
		"authorizationData": []map[string]any{{
			"authorizationToken": auth,
			"expiresAt":          float64(expires.UnixMilli()) / 1000,
			"proxyEndpoint":      s.token.ProxyEndpoint,
		}},
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	json.NewEncoder(w).Encode(out)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Errortype", code)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": msg})
}
