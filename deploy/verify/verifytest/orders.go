// Package verifytest holds a small orders service to run verification
// suites against in tests: the tests of package verify and of the
// `mainline verify run` command use it with httptest. It keeps every request
// it receives so a test can check what a suite sent.
package verifytest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
)

// Orders is an in-memory orders API:
//
//	POST   /orders              {"sku": …} → 201 order, Location header
//	GET    /orders/{id}         → 200 order | 404
//	GET    /orders/{id}/state   → "pending" for the first two reads, then "processed"
//	DELETE /orders/{id}         → 204 | 404
//	GET    /whoami              → 200 {"user": "alice"} with "Authorization: Bearer <Token>", else 401
//	GET    /health              → 200 "ok" (text/plain)
//
// An order is {"id", "sku", "status", "total"}; status is Status, "open"
// when empty, so a test can make the service answer wrongly.
type Orders struct {
	Token  string // bearer token /whoami accepts
	Status string // status of new orders; "open" when empty

	mu     sync.Mutex
	next   int
	orders map[string]*order
	reads  map[string]int
	seen   []Seen
}

// Seen is a request the service received.
type Seen struct {
	Method, Path string
	Header       http.Header
}

type order struct {
	ID     string  `json:"id"`
	SKU    string  `json:"sku"`
	Status string  `json:"status"`
	Total  float64 `json:"total"`
}

// Handler returns the service's handler.
func (o *Orders) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /orders", o.create)
	mux.HandleFunc("GET /orders/{id}", o.get)
	mux.HandleFunc("GET /orders/{id}/state", o.state)
	mux.HandleFunc("DELETE /orders/{id}", o.delete)
	mux.HandleFunc("GET /whoami", o.whoami)
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprint(w, "ok")
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		o.seen = append(o.seen, Seen{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone()})
		o.mu.Unlock()
		mux.ServeHTTP(w, r)
	})
}

// Seen returns the requests received so far.
func (o *Orders) Seen() []Seen {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]Seen(nil), o.seen...)
}

// Count returns how many orders exist.
func (o *Orders) Count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.orders)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (o *Orders) create(w http.ResponseWriter, r *http.Request) {
	var in struct {
		SKU string `json:"sku"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.SKU == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "want {\"sku\": …}"})
		return
	}
	o.mu.Lock()
	if o.orders == nil {
		o.orders, o.reads = map[string]*order{}, map[string]int{}
	}
	o.next++
	status := o.Status
	if status == "" {
		status = "open"
	}
	od := &order{ID: fmt.Sprintf("o-%d", o.next), SKU: in.SKU, Status: status, Total: 12.5}
	o.orders[od.ID] = od
	o.mu.Unlock()
	w.Header().Set("Location", "/orders/"+od.ID)
	writeJSON(w, http.StatusCreated, od)
}

func (o *Orders) lookup(w http.ResponseWriter, r *http.Request) (order, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	od, ok := o.orders[r.PathValue("id")]
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such order"})
		return order{}, false
	}
	return *od, true
}

func (o *Orders) get(w http.ResponseWriter, r *http.Request) {
	if od, ok := o.lookup(w, r); ok {
		writeJSON(w, http.StatusOK, od)
	}
}

func (o *Orders) state(w http.ResponseWriter, r *http.Request) {
	od, ok := o.lookup(w, r)
	if !ok {
		return
	}
	o.mu.Lock()
	o.reads[od.ID]++
	n := o.reads[od.ID]
	o.mu.Unlock()
	state := "pending"
	if n > 2 {
		state = "processed"
	}
	writeJSON(w, http.StatusOK, map[string]string{"id": od.ID, "state": state})
}

func (o *Orders) delete(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	defer o.mu.Unlock()
	id := r.PathValue("id")
	if _, ok := o.orders[id]; !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such order"})
		return
	}
	delete(o.orders, id)
	w.WriteHeader(http.StatusNoContent)
}

func (o *Orders) whoami(w http.ResponseWriter, r *http.Request) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || o.Token == "" || tok != o.Token {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "bad token"})
		return
	}
	// Echoing the token lets a test check that a report masks a secret
	// even where the service repeats it.
	w.Header().Set("X-Session", "s-"+tok)
	writeJSON(w, http.StatusOK, map[string]string{"user": "alice", "token": tok})
}
