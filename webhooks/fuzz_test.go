package webhooks_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mainline-cd/mainline/controller/store"
	"github.com/mainline-cd/mainline/webhooks"
)

// countingStore counts the writes that reach the store.
type countingStore struct {
	webhooks.Store
	writes atomic.Int64
}

func (s *countingStore) AddDelivery(ctx context.Context, d store.Delivery) (bool, error) {
	s.writes.Add(1)
	return s.Store.AddDelivery(ctx, d)
}

func (s *countingStore) MarkDeliveryProcessed(ctx context.Context, id string, at time.Time) error {
	s.writes.Add(1)
	return s.Store.MarkDeliveryProcessed(ctx, id, at)
}

func (s *countingStore) AddEvent(ctx context.Context, e store.Event) (store.Event, error) {
	s.writes.Add(1)
	return s.Store.AddEvent(ctx, e)
}

// FuzzHandler sends arbitrary events and payloads, signed or not, as JSON
// or as a form. The handler never panics, every answer is 2xx or 4xx, a
// 4xx writes nothing, and an unsigned request is always 401. The seed
// corpus in testdata/fuzz/FuzzHandler holds the real fixtures.
func FuzzHandler(f *testing.F) {
	f.Add("push", []byte(`{"ref":"refs/heads/main","after":"abc","repository":{"full_name":"o/r"}}`), false, true)
	f.Add("push", []byte(`{"ref":"refs/heads/main","after":"abc","repository":{"full_name":"o/r"}}`), false, false)
	f.Add("push", []byte(strings.Repeat("[", 20000)), false, true)
	f.Add("status", []byte("{\"sha\":\"\xff\xfe\",\"state\":\"x\",\"repository\":{\"full_name\":\"o/\xc3\"}}"), true, true)
	f.Add("push\r\nX-Evil: 1", []byte(`{}`), false, true)
	st := &countingStore{Store: openSQLite(f)}
	h, _ := newHandler(nil)
	h.Store = st
	h.MaxBodyBytes = 1 << 20
	var n atomic.Int64
	f.Fuzz(func(t *testing.T, event string, payload []byte, form, signed bool) {
		d := delivery{ID: fmt.Sprintf("fuzz-%d", n.Add(1)), Event: event, Payload: payload, Form: form}
		if signed {
			d.Secret = newSecret
		}
		r := d.request(endpoint)
		before := st.writes.Load()
		code, body := serve(h, r)
		if !json.Valid([]byte(body)) {
			t.Errorf("answer %q is not JSON", body)
		}
		switch {
		case code >= 200 && code < 300:
			if !signed {
				t.Fatalf("unsigned request answered %d", code)
			}
			if _, err := webhooks.Summarize(event, payload); err != nil {
				t.Fatalf("accepted a payload Summarize refuses: %v", err)
			}
		case code >= 400 && code < 500:
			if w := st.writes.Load() - before; w != 0 {
				t.Fatalf("a %d answer wrote %d times to the store", code, w)
			}
			if !signed && code != http.StatusUnauthorized {
				t.Fatalf("unsigned request answered %d, want 401", code)
			}
		default:
			t.Fatalf("answer %d (%s), want 2xx or 4xx", code, body)
		}
	})
}

// FuzzSummarize checks the parser alone: it never panics, and what it
// accepts is consistent.
func FuzzSummarize(f *testing.F) {
	for _, fx := range loadFixtures(f) {
		f.Add(fx.Event, fx.Payload)
	}
	f.Fuzz(func(t *testing.T, event string, payload []byte) {
		s, err := webhooks.Summarize(event, payload)
		if err != nil {
			return
		}
		if s.Event != event {
			t.Errorf("Event = %q, want %q", s.Event, event)
		}
		if s.Wakes() && s.Repo == "" {
			t.Errorf("%+v wakes no repository", s)
		}
		if s.Branch != "" && s.Tag != "" {
			t.Errorf("%+v is both a branch and a tag", s)
		}
		if event == "push" && (s.Ref == "" || s.SHA == "") {
			t.Errorf("push summary %+v lacks ref or sha", s)
		}
	})
}
