// Package storetest checks implementations of store.Store, the way
// testing/fstest checks file systems: Run exercises every method of the
// contract, including concurrent writers and transactions, and reports
// every fault it finds. It also opens fresh SQLite and PostgreSQL stores
// (SQLite, Postgres, Each) for the tests of packages that use a store.
//
// It is imported by tests only: controller/store's own, and those of the
// controller, web and webhooks packages.
package storetest

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/mainline-cd/mainline/controller/store"
)

// fixtures are real GitHub webhook payloads (MIT, see testdata/LICENSE).
//
//go:embed testdata/push.json testdata/ping.json
var fixtures embed.FS

// Run checks the stores open returns against the store.Store contract.
// Each check is a parallel subtest that calls open once: open must return a
// new, empty store and close it when its test ends (as SQLite and Postgres
// do).
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	checks := []struct {
		name  string
		check func(t *testing.T, s store.Store)
	}{
		{"Projects", testProjects},
		{"WebhookSecrets", testWebhookSecrets},
		{"Deliveries", testDeliveries},
		{"DeliveryRace", testDeliveryRace},
		{"Heads", testHeads},
		{"Tags", testTags},
		{"Builds", testBuilds},
		{"Desired", testDesired},
		{"DesiredRace", testDesiredRace},
		{"Last", testLast},
		{"Events", testEvents},
		{"ConcurrentEvents", testConcurrentEvents},
		{"Rejections", testRejections},
		{"VerifyRuns", testVerifyRuns},
		{"DependencyPRs", testDependencyPRs},
		{"Tokens", testTokens},
		{"UnknownProject", testUnknownProject},
		{"TxCommit", testTxCommit},
		{"TxRollback", testTxRollback},
		{"ConcurrentTx", testConcurrentTx},
		{"Times", testTimes},
		{"Ping", testPing},
		{"Lease", testLease},
		{"LeaseRace", testLeaseRace},
		{"LeaseExpiry", testLeaseExpiry},
		{"LeaseFence", testLeaseFence},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.check(t, open(t))
		})
	}
}

// t0 is a fixed instant the checks build times from, in a zone other than
// UTC so that a store returning the caller's zone is caught.
var t0 = time.Date(2025, 3, 14, 15, 9, 26, 535_000_000, time.FixedZone("UTC+2", 2*3600))

func at(minutes int) time.Time { return t0.Add(time.Duration(minutes) * time.Minute) }

func payload(t *testing.T, name string) []byte {
	t.Helper()
	b, err := fixtures.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// normalize returns a copy of v (a struct or a slice of structs) with every
// time.Time in UTC and cut to the millisecond (the precision the contract
// asks for), and nil maps and byte slices made empty, so that values can
// be compared with reflect.DeepEqual.
func normalize(v any) any {
	rv := reflect.ValueOf(v)
	out := reflect.New(rv.Type()).Elem()
	out.Set(normalizeValue(rv))
	return out.Interface()
}

func normalizeValue(v reflect.Value) reflect.Value {
	switch {
	case v.Type() == reflect.TypeFor[time.Time]():
		return reflect.ValueOf(v.Interface().(time.Time).UTC().Truncate(time.Millisecond))
	case v.Kind() == reflect.Struct:
		c := reflect.New(v.Type()).Elem()
		for i := range v.NumField() {
			c.Field(i).Set(normalizeValue(v.Field(i)))
		}
		return c
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8:
		if v.Len() == 0 {
			return reflect.MakeSlice(v.Type(), 0, 0)
		}
		return v
	case v.Kind() == reflect.Slice:
		if v.IsNil() {
			return v
		}
		c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			c.Index(i).Set(normalizeValue(v.Index(i)))
		}
		return c
	case v.Kind() == reflect.Map && v.IsNil():
		return reflect.MakeMap(v.Type())
	}
	return v
}

// same reports a difference between got and want (after normalize).
func same(t *testing.T, what string, got, want any) bool {
	t.Helper()
	if g, w := normalize(got), normalize(want); !reflect.DeepEqual(g, w) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, g, w)
		return false
	}
	return true
}

// wantErr reports err unless it is target.
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: got error %v, want %v", what, err, target)
	}
}

func ok(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func createProject(t *testing.T, s store.Store, name string) store.Project {
	t.Helper()
	p, err := s.CreateProject(t.Context(), store.Project{Name: name, SCM: "github", Location: name})
	ok(t, "CreateProject "+name, err)
	return p
}

func testProjects(t *testing.T, s store.Store) {
	ctx := t.Context()
	in := store.Project{Name: "octo-org/api", SCM: "github", Location: "octo-org/api", Branch: "main", Pinned: "0.1.0"}
	api, err := s.CreateProject(ctx, in)
	ok(t, "CreateProject", err)
	if api.ID == 0 {
		t.Errorf("CreateProject: ID not set")
	}
	if api.CreatedAt.IsZero() {
		t.Errorf("CreateProject: CreatedAt not set")
	}
	want := in
	want.ID, want.CreatedAt = api.ID, api.CreatedAt
	same(t, "CreateProject", api, want)

	_, err = s.CreateProject(ctx, store.Project{Name: "octo-org/api", SCM: "git", Location: "/elsewhere"})
	wantErr(t, "CreateProject with a taken name", err, store.ErrConflict)

	stray := createProject(t, s, "octo-org/api-canary")
	stray.Location = "octo-org/api"
	ok(t, "UpdateProject", s.UpdateProject(ctx, stray)) // writes no Location
	canary, err := s.CreateProject(ctx, store.Project{Name: "canary", SCM: "github", Location: "octo-org/api"})
	ok(t, "CreateProject canary", err)
	demo, err := s.CreateProject(ctx, store.Project{Name: "demo", SCM: "git", Location: "/srv/git/demo.git"})
	ok(t, "CreateProject demo", err)
	if api.ID == canary.ID || canary.ID == demo.ID {
		t.Errorf("CreateProject: IDs %d, %d, %d are not distinct", api.ID, canary.ID, demo.ID)
	}

	got, err := s.Project(ctx, api.ID)
	ok(t, "Project", err)
	same(t, "Project", got, api)
	got, err = s.ProjectByName(ctx, "demo")
	ok(t, "ProjectByName", err)
	same(t, "ProjectByName", got, demo)
	_, err = s.Project(ctx, demo.ID+1000)
	wantErr(t, "Project of an unknown ID", err, store.ErrNotFound)
	_, err = s.ProjectByName(ctx, "nope")
	wantErr(t, "ProjectByName of an unknown name", err, store.ErrNotFound)

	byName := func(ps []store.Project) []store.Project {
		sort.Slice(ps, func(i, j int) bool { return ps[i].Name < ps[j].Name })
		return ps
	}
	list, err := s.ProjectsByLocation(ctx, "github", "octo-org/api")
	ok(t, "ProjectsByLocation", err)
	same(t, "ProjectsByLocation", byName(list), []store.Project{canary, api})
	list, err = s.ProjectsByLocation(ctx, "git", "octo-org/api")
	ok(t, "ProjectsByLocation", err)
	if len(list) != 0 {
		t.Errorf("ProjectsByLocation(git, octo-org/api) = %+v, want none", list)
	}
	all, err := s.Projects(ctx)
	ok(t, "Projects", err)
	if len(all) != 4 {
		t.Errorf("Projects: got %d projects, want 4", len(all))
	}

	upd := api
	upd.Branch, upd.Paused, upd.Pinned = "release", true, ""
	upd.Name, upd.SCM = "renamed", "git" // not written by UpdateProject
	ok(t, "UpdateProject", s.UpdateProject(ctx, upd))
	got, err = s.Project(ctx, api.ID)
	ok(t, "Project after UpdateProject", err)
	want = api
	want.Branch, want.Paused, want.Pinned = "release", true, ""
	same(t, "Project after UpdateProject", got, want)

	err = s.UpdateProject(ctx, store.Project{ID: demo.ID + 1000, Branch: "x"})
	wantErr(t, "UpdateProject of an unknown ID", err, store.ErrNotFound)
}

func testDeliveries(t *testing.T, s store.Store) {
	ctx := t.Context()
	push := store.Delivery{ID: "d-push", Event: "push", Repo: "Codertocat/Hello-World", Payload: payload(t, "push.json"), ReceivedAt: at(2)}
	ping := store.Delivery{ID: "d-ping", Event: "ping", Payload: payload(t, "ping.json"), ReceivedAt: at(0)}
	other := store.Delivery{ID: "d-other", Event: "push", Repo: "octo-org/api", Payload: []byte(`{}`), ReceivedAt: at(1)}
	for _, d := range []store.Delivery{push, ping, other} {
		isNew, err := s.AddDelivery(ctx, d)
		ok(t, "AddDelivery "+d.ID, err)
		if !isNew {
			t.Errorf("AddDelivery %s: got new=false for a new delivery", d.ID)
		}
	}
	dup := push
	dup.Payload, dup.Event = []byte(`{"changed":true}`), "pull_request"
	isNew, err := s.AddDelivery(ctx, dup)
	ok(t, "AddDelivery of a duplicate", err)
	if isNew {
		t.Errorf("AddDelivery of a duplicate: got new=true")
	}

	pending, err := s.PendingDeliveries(ctx, 10)
	ok(t, "PendingDeliveries", err)
	same(t, "PendingDeliveries (oldest first; a duplicate changes nothing)", pending, []store.Delivery{ping, other, push})
	pending, err = s.PendingDeliveries(ctx, 2)
	ok(t, "PendingDeliveries(2)", err)
	same(t, "PendingDeliveries(2)", pending, []store.Delivery{ping, other})

	ok(t, "MarkDeliveryProcessed", s.MarkDeliveryProcessed(ctx, "d-ping", at(5)))
	pending, err = s.PendingDeliveries(ctx, 10)
	ok(t, "PendingDeliveries", err)
	same(t, "PendingDeliveries after MarkDeliveryProcessed", pending, []store.Delivery{other, push})

	err = s.MarkDeliveryProcessed(ctx, "d-unknown", at(5))
	wantErr(t, "MarkDeliveryProcessed of an unknown ID", err, store.ErrNotFound)

	// A processed delivery stays known: adding it again is still a duplicate.
	isNew, err = s.AddDelivery(ctx, ping)
	ok(t, "AddDelivery of a processed delivery", err)
	if isNew {
		t.Errorf("AddDelivery of a processed delivery: got new=true")
	}
}

// testDeliveryRace: GitHub may redeliver while the first delivery is being
// stored; exactly one of the racing writers may see it as new.
func testDeliveryRace(t *testing.T, s store.Store) {
	ctx := t.Context()
	const writers = 50
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		fresh int
		errs  []error
	)
	body := payload(t, "push.json")
	for i := range writers {
		wg.Go(func() {
			isNew, err := s.AddDelivery(ctx, store.Delivery{ID: "race", Event: "push", Payload: body, ReceivedAt: at(i)})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			if isNew {
				fresh++
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		t.Errorf("AddDelivery: %v", err)
	}
	if fresh != 1 {
		t.Errorf("%d writers raced AddDelivery of one ID: %d saw it as new, want 1", writers, fresh)
	}
	pending, err := s.PendingDeliveries(ctx, 0)
	ok(t, "PendingDeliveries", err)
	if len(pending) != 1 {
		t.Errorf("PendingDeliveries after the race: got %d deliveries, want 1", len(pending))
	}
}

func testHeads(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := createProject(t, s, "heads")
	_, err := s.Head(ctx, p.ID, "main")
	wantErr(t, "Head before SetHead", err, store.ErrNotFound)

	h := store.Head{ProjectID: p.ID, Branch: "main", SHA: "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c", SeenAt: at(0)}
	ok(t, "SetHead", s.SetHead(ctx, h))
	got, err := s.Head(ctx, p.ID, "main")
	ok(t, "Head", err)
	same(t, "Head", got, h)

	h2 := store.Head{ProjectID: p.ID, Branch: "main", SHA: "6113728f27ae82c7b1a177c8d03f9e96e0adf246", SeenAt: at(1)}
	ok(t, "SetHead again", s.SetHead(ctx, h2))
	dev := store.Head{ProjectID: p.ID, Branch: "dev", SHA: "f00d", SeenAt: at(2)}
	ok(t, "SetHead dev", s.SetHead(ctx, dev))
	got, err = s.Head(ctx, p.ID, "main")
	ok(t, "Head", err)
	same(t, "Head after a second SetHead", got, h2)
	got, err = s.Head(ctx, p.ID, "dev")
	ok(t, "Head dev", err)
	same(t, "Head dev", got, dev)
}

func testTags(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := createProject(t, s, "tags")
	q := createProject(t, s, "other")
	tags := []store.Tag{
		{ProjectID: p.ID, Name: "0.0.1", SHA: "a1", Message: "first", CreatedAt: at(0)},
		{ProjectID: p.ID, Name: "0.0.3", SHA: "a3", Message: "third", CreatedAt: at(20)},
		{ProjectID: p.ID, Name: "0.0.2", SHA: "a2", Message: "second", CreatedAt: at(10)},
	}
	for _, tag := range tags {
		ok(t, "AddTag "+tag.Name, s.AddTag(ctx, tag))
	}
	err := s.AddTag(ctx, store.Tag{ProjectID: p.ID, Name: "0.0.2", SHA: "b2", CreatedAt: at(30)})
	wantErr(t, "AddTag of a taken name", err, store.ErrConflict)
	ok(t, "AddTag of the same name in another project", s.AddTag(ctx, store.Tag{ProjectID: q.ID, Name: "0.0.2", SHA: "c2", CreatedAt: at(0)}))

	got, err := s.Tags(ctx, p.ID)
	ok(t, "Tags", err)
	same(t, "Tags (newest first)", got, []store.Tag{tags[1], tags[2], tags[0]})
	none := createProject(t, s, "untagged")
	got, err = s.Tags(ctx, none.ID)
	ok(t, "Tags of an untagged project", err)
	if len(got) != 0 {
		t.Errorf("Tags of an untagged project: got %+v, want none", got)
	}
}

func testBuilds(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := createProject(t, s, "builds")
	_, err := s.Build(ctx, p.ID, "api", "0.0.1")
	wantErr(t, "Build before PutBuild", err, store.ErrNotFound)

	b1 := store.Build{ProjectID: p.ID, Name: "api", Version: "0.0.1", Status: store.BuildRunning, Image: "registry.local/api:0.0.1", StartedAt: at(0)}
	ok(t, "PutBuild", s.PutBuild(ctx, b1))
	got, err := s.Build(ctx, p.ID, "api", "0.0.1")
	ok(t, "Build", err)
	same(t, "Build", got, b1)

	b1.Status, b1.Digest, b1.Log, b1.FinishedAt = store.BuildSucceeded, "sha256:"+fmt.Sprintf("%064x", 1), "step 1/3\nok\n", at(2)
	ok(t, "PutBuild replacing", s.PutBuild(ctx, b1))
	got, err = s.Build(ctx, p.ID, "api", "0.0.1")
	ok(t, "Build", err)
	same(t, "Build after replacing", got, b1)

	b2 := store.Build{ProjectID: p.ID, Name: "api", Version: "0.0.2", Status: store.BuildFailed, Error: "exit status 1", StartedAt: at(10), FinishedAt: at(11)}
	b3 := store.Build{ProjectID: p.ID, Name: "www", Version: "0.0.2", Status: store.BuildSucceeded, StartedAt: at(12), FinishedAt: at(13)}
	ok(t, "PutBuild b2", s.PutBuild(ctx, b2))
	ok(t, "PutBuild b3", s.PutBuild(ctx, b3))
	list, err := s.Builds(ctx, p.ID, 10)
	ok(t, "Builds", err)
	same(t, "Builds (newest first)", list, []store.Build{b3, b2, b1})
	list, err = s.Builds(ctx, p.ID, 2)
	ok(t, "Builds(2)", err)
	same(t, "Builds(2)", list, []store.Build{b3, b2})
}

func testDesired(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := createProject(t, s, "desired")
	_, err := s.Desired(ctx, p.ID, "api")
	wantErr(t, "Desired before SetDesired", err, store.ErrNotFound)

	_, err = s.SetDesired(ctx, store.Desired{ProjectID: p.ID, Build: "api", Version: "0.0.1", Instances: 2, SetAt: at(0), Revision: 3})
	wantErr(t, "SetDesired at revision 3 of a build with no desired state", err, store.ErrConflict)

	d1 := store.Desired{ProjectID: p.ID, Build: "api", Version: "0.0.1", Instances: 2, SetAt: at(0), SetBy: "tag 0.0.1"}
	got, err := s.SetDesired(ctx, d1)
	ok(t, "SetDesired at revision 0", err)
	d1.Revision = 1
	same(t, "SetDesired at revision 0", got, d1)

	_, err = s.SetDesired(ctx, store.Desired{ProjectID: p.ID, Build: "api", Version: "0.0.9", Instances: 1, SetAt: at(1)})
	wantErr(t, "SetDesired at revision 0 when a desired state exists", err, store.ErrConflict)

	d2 := store.Desired{ProjectID: p.ID, Build: "api", Version: "0.0.2", Instances: 3, SetAt: at(5), SetBy: "user:alice", Revision: 1}
	got, err = s.SetDesired(ctx, d2)
	ok(t, "SetDesired at revision 1", err)
	d2.Revision = 2
	same(t, "SetDesired at revision 1", got, d2)

	_, err = s.SetDesired(ctx, store.Desired{ProjectID: p.ID, Build: "api", Version: "0.0.1", Instances: 2, SetAt: at(6), SetBy: "rollback", Revision: 1})
	wantErr(t, "SetDesired at a stale revision", err, store.ErrConflict)
	got, err = s.Desired(ctx, p.ID, "api")
	ok(t, "Desired", err)
	same(t, "Desired after a lost compare-and-set (unchanged)", got, d2)

	www := store.Desired{ProjectID: p.ID, Build: "www", Version: "0.0.2", Instances: 1, SetAt: at(7), SetBy: "tag 0.0.2"}
	www, err = s.SetDesired(ctx, www)
	ok(t, "SetDesired www", err)
	all, err := s.DesiredStates(ctx, p.ID)
	ok(t, "DesiredStates", err)
	sort.Slice(all, func(i, j int) bool { return all[i].Build < all[j].Build })
	same(t, "DesiredStates", all, []store.Desired{d2, www})
}

// testDesiredRace: of writers racing a compare-and-set from the same
// revision, exactly one wins; the store holds the winner's write.
func testDesiredRace(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := createProject(t, s, "desired-race")
	for _, rev := range []int64{0, 1} {
		const writers = 16
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			winners []store.Desired
		)
		for i := range writers {
			wg.Go(func() {
				d, err := s.SetDesired(ctx, store.Desired{ProjectID: p.ID, Build: "api", Version: fmt.Sprintf("1.0.%d", i), Instances: i, SetAt: at(i), SetBy: "racer", Revision: rev})
				if err != nil && !errors.Is(err, store.ErrConflict) {
					t.Errorf("SetDesired at revision %d: got error %v, want nil or ErrConflict", rev, err)
				}
				if err == nil {
					mu.Lock()
					winners = append(winners, d)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(winners) != 1 {
			t.Fatalf("%d writers raced SetDesired at revision %d: %d won, want exactly 1", writers, rev, len(winners))
		}
		got, err := s.Desired(ctx, p.ID, "api")
		ok(t, "Desired", err)
		same(t, fmt.Sprintf("Desired after the race at revision %d (the winner's write)", rev), got, winners[0])
		if got.Revision != rev+1 {
			t.Errorf("revision after the race at revision %d: got %d, want %d", rev, got.Revision, rev+1)
		}
	}
}

func testLast(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := createProject(t, s, "last")
	_, err := s.Last(ctx, p.ID, "api")
	wantErr(t, "Last before SetLast", err, store.ErrNotFound)

	l := store.Last{ProjectID: p.ID, Build: "api", Versions: map[string]int{"0.3.14": 1, "0.3.15": 1}, ObservedAt: at(0)}
	ok(t, "SetLast", s.SetLast(ctx, l))
	got, err := s.Last(ctx, p.ID, "api")
	ok(t, "Last", err)
	same(t, "Last", got, l)

	l2 := store.Last{ProjectID: p.ID, Build: "api", Versions: map[string]int{"0.3.15": 2}, ObservedAt: at(1)}
	ok(t, "SetLast again", s.SetLast(ctx, l2))
	got, err = s.Last(ctx, p.ID, "api")
	ok(t, "Last", err)
	same(t, "Last after a second SetLast", got, l2)

	empty := store.Last{ProjectID: p.ID, Build: "www", ObservedAt: at(2)}
	ok(t, "SetLast with no instances", s.SetLast(ctx, empty))
	got, err = s.Last(ctx, p.ID, "www")
	ok(t, "Last", err)
	same(t, "Last with no instances", got, empty)
}

// pageAll lists every event q selects, pageSize at a time, following the
// BeforeID cursor.
func pageAll(t *testing.T, s store.Store, q store.EventQuery) []store.Event {
	t.Helper()
	var all []store.Event
	for {
		page, err := s.Events(t.Context(), q)
		ok(t, "Events", err)
		all = append(all, page...)
		if len(page) < q.Limit || len(page) == 0 {
			return all
		}
		q.BeforeID = page[len(page)-1].ID
	}
}

func testEvents(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := createProject(t, s, "a")
	b := createProject(t, s, "b")
	kinds := []string{"tagged", "build_failed", "desired_changed"}
	var added []store.Event
	for i := range 120 {
		pid := []int64{a.ID, b.ID, 0}[i%3]
		e, err := s.AddEvent(ctx, store.Event{ProjectID: pid, Kind: kinds[(i/3)%3], Message: fmt.Sprintf("event %d", i), At: at(i)})
		ok(t, "AddEvent", err)
		if len(added) > 0 && e.ID <= added[len(added)-1].ID {
			t.Fatalf("AddEvent: ID %d after ID %d, want increasing IDs", e.ID, added[len(added)-1].ID)
		}
		added = append(added, e)
	}
	newestFirst := func(keep func(store.Event) bool) []store.Event {
		var out []store.Event
		for _, e := range slices.Backward(added) {
			if keep(e) {
				out = append(out, e)
			}
		}
		return out
	}
	all := newestFirst(func(store.Event) bool { return true })

	got, err := s.Events(ctx, store.EventQuery{})
	ok(t, "Events", err)
	same(t, "Events with a zero query (the 50 newest)", got, all[:50])

	got, err = s.Events(ctx, store.EventQuery{BeforeID: all[9].ID, Limit: 5})
	ok(t, "Events", err)
	same(t, "Events before the 10th newest", got, all[10:15])

	for _, tc := range []struct {
		name string
		q    store.EventQuery
		keep func(store.Event) bool
	}{
		{"all", store.EventQuery{Limit: 7}, func(store.Event) bool { return true }},
		{"project a", store.EventQuery{ProjectID: a.ID, Limit: 7}, func(e store.Event) bool { return e.ProjectID == a.ID }},
		{"kind tagged", store.EventQuery{Kind: "tagged", Limit: 7}, func(e store.Event) bool { return e.Kind == "tagged" }},
		{"project b, kind build_failed", store.EventQuery{ProjectID: b.ID, Kind: "build_failed", Limit: 3},
			func(e store.Event) bool { return e.ProjectID == b.ID && e.Kind == "build_failed" }},
		{"unknown kind", store.EventQuery{Kind: "nope", Limit: 7}, func(store.Event) bool { return false }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			same(t, "paging through "+tc.name, pageAll(t, s, tc.q), newestFirst(tc.keep))
		})
	}

	e, err := s.AddEvent(ctx, store.Event{ProjectID: a.ID, Kind: "paused", Message: "no time given"})
	ok(t, "AddEvent with a zero At", err)
	if e.At.IsZero() {
		t.Errorf("AddEvent with a zero At: At not set")
	}
}

// testConcurrentEvents: concurrent writers lose and duplicate nothing.
func testConcurrentEvents(t *testing.T, s store.Store) {
	ctx := t.Context()
	const writers, each = 8, 50
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if _, err := s.AddEvent(ctx, store.Event{ProjectID: int64(w), Kind: "concurrent", Message: fmt.Sprintf("%d/%d", w, i), At: at(i)}); err != nil {
					t.Errorf("AddEvent %d/%d: %v", w, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	got := pageAll(t, s, store.EventQuery{Kind: "concurrent", Limit: 64})
	if len(got) != writers*each {
		t.Errorf("%d writers × %d events: listed %d, want %d", writers, each, len(got), writers*each)
	}
	ids := map[int64]bool{}
	msgs := map[string]int{}
	for _, e := range got {
		if ids[e.ID] {
			t.Errorf("event ID %d listed twice", e.ID)
		}
		ids[e.ID] = true
		msgs[e.Message]++
	}
	for w := range writers {
		for i := range each {
			if m := fmt.Sprintf("%d/%d", w, i); msgs[m] != 1 {
				t.Errorf("event %s stored %d times, want 1", m, msgs[m])
			}
		}
	}
}

func testRejections(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := createProject(t, s, "rejections")
	r1 := store.Rejection{ProjectID: p.ID, Version: "0.0.2", Reason: "verify failed", At: at(0)}
	r2 := store.Rejection{ProjectID: p.ID, Version: "0.0.3", Reason: "crash loop", At: at(5)}
	ok(t, "Reject", s.Reject(ctx, r1))
	ok(t, "Reject", s.Reject(ctx, r2))
	r1.Reason, r1.At = "verify failed again", at(10)
	ok(t, "Reject again", s.Reject(ctx, r1))
	got, err := s.Rejections(ctx, p.ID)
	ok(t, "Rejections", err)
	sort.Slice(got, func(i, j int) bool { return got[i].Version < got[j].Version })
	same(t, "Rejections", got, []store.Rejection{r1, r2})

	ok(t, "Unreject", s.Unreject(ctx, p.ID, "0.0.2"))
	got, err = s.Rejections(ctx, p.ID)
	ok(t, "Rejections", err)
	same(t, "Rejections after Unreject", got, []store.Rejection{r2})
}

func testVerifyRuns(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := createProject(t, s, "verify")
	var runs []store.VerifyRun
	for i, trigger := range []string{"rollout", "schedule", "user:alice"} {
		r, err := s.AddVerifyRun(ctx, store.VerifyRun{ProjectID: p.ID, Version: "0.0.1", Trigger: trigger, Status: "running", StartedAt: at(i)})
		ok(t, "AddVerifyRun", err)
		if r.ID == 0 || (len(runs) > 0 && r.ID == runs[len(runs)-1].ID) {
			t.Errorf("AddVerifyRun: got ID %d, want a new non-zero ID", r.ID)
		}
		runs = append(runs, r)
	}
	runs[0].Status, runs[0].Summary, runs[0].Report, runs[0].FinishedAt = "failed", "2 of 3 steps passed", []byte(`{"steps":[{"status":201}]}`), at(1)
	ok(t, "UpdateVerifyRun", s.UpdateVerifyRun(ctx, runs[0]))
	got, err := s.VerifyRuns(ctx, p.ID, 10)
	ok(t, "VerifyRuns", err)
	same(t, "VerifyRuns (newest first)", got, []store.VerifyRun{runs[2], runs[1], runs[0]})
	got, err = s.VerifyRuns(ctx, p.ID, 1)
	ok(t, "VerifyRuns(1)", err)
	same(t, "VerifyRuns(1)", got, []store.VerifyRun{runs[2]})

	err = s.UpdateVerifyRun(ctx, store.VerifyRun{ID: runs[2].ID + 1000, Status: "passed"})
	wantErr(t, "UpdateVerifyRun of an unknown ID", err, store.ErrNotFound)
}

func testDependencyPRs(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := createProject(t, s, "deps")
	pr1 := store.DependencyPR{ProjectID: p.ID, Number: 7, Branch: "mainline/deps", Title: "Upgrade dependencies", State: "open", Checks: "pending", URL: "https://github.com/octo-org/api/pull/7", UpdatedAt: at(0)}
	pr2 := store.DependencyPR{ProjectID: p.ID, Number: 9, Branch: "mainline/deps-2", Title: "Upgrade golang.org/x/net", State: "open", Checks: "pending", URL: "https://github.com/octo-org/api/pull/9", UpdatedAt: at(1)}
	ok(t, "PutDependencyPR", s.PutDependencyPR(ctx, pr1))
	ok(t, "PutDependencyPR", s.PutDependencyPR(ctx, pr2))
	pr1.State, pr1.Checks, pr1.UpdatedAt = "merged", "success", at(5)
	ok(t, "PutDependencyPR replacing", s.PutDependencyPR(ctx, pr1))
	got, err := s.DependencyPRs(ctx, p.ID)
	ok(t, "DependencyPRs", err)
	sort.Slice(got, func(i, j int) bool { return got[i].Number < got[j].Number })
	same(t, "DependencyPRs", got, []store.DependencyPR{pr1, pr2})
}

func testTokens(t *testing.T, s store.Store) {
	ctx := t.Context()
	hash := func(b byte) []byte { return slices.Repeat([]byte{b}, 32) }
	tok, err := s.AddToken(ctx, store.Token{Name: "ci", Hash: hash(1), CreatedAt: at(0)})
	ok(t, "AddToken", err)
	if tok.ID == 0 {
		t.Errorf("AddToken: ID not set")
	}
	_, err = s.AddToken(ctx, store.Token{Name: "ci", Hash: hash(2), CreatedAt: at(1)})
	wantErr(t, "AddToken of a taken name", err, store.ErrConflict)
	other, err := s.AddToken(ctx, store.Token{Name: "deploy-bot", Hash: hash(3), CreatedAt: at(2)})
	ok(t, "AddToken", err)

	got, err := s.TokenByHash(ctx, hash(1))
	ok(t, "TokenByHash", err)
	same(t, "TokenByHash", got, tok)
	got, err = s.TokenByHash(ctx, hash(3))
	ok(t, "TokenByHash", err)
	same(t, "TokenByHash", got, other)
	_, err = s.TokenByHash(ctx, hash(2))
	wantErr(t, "TokenByHash of an unknown hash", err, store.ErrNotFound)
}

// testUnknownProject: rows that belong to a project are refused for a
// project that does not exist.
func testUnknownProject(t *testing.T, s store.Store) {
	ctx := t.Context()
	const id = 987654
	for _, tc := range []struct {
		name  string
		write func() error
	}{
		{"SetHead", func() error { return s.SetHead(ctx, store.Head{ProjectID: id, Branch: "main", SHA: "a", SeenAt: t0}) }},
		{"AddTag", func() error { return s.AddTag(ctx, store.Tag{ProjectID: id, Name: "0.0.1", SHA: "a", CreatedAt: t0}) }},
		{"PutBuild", func() error {
			return s.PutBuild(ctx, store.Build{ProjectID: id, Name: "api", Version: "0.0.1", Status: store.BuildPending})
		}},
		{"SetDesired", func() error {
			_, err := s.SetDesired(ctx, store.Desired{ProjectID: id, Build: "api", Version: "0.0.1", Instances: 1, SetAt: t0})
			return err
		}},
		{"SetLast", func() error { return s.SetLast(ctx, store.Last{ProjectID: id, Build: "api", ObservedAt: t0}) }},
		{"Reject", func() error { return s.Reject(ctx, store.Rejection{ProjectID: id, Version: "0.0.1", At: t0}) }},
		{"AddVerifyRun", func() error {
			_, err := s.AddVerifyRun(ctx, store.VerifyRun{ProjectID: id, Version: "0.0.1", Status: "running", StartedAt: t0})
			return err
		}},
		{"PutDependencyPR", func() error {
			return s.PutDependencyPR(ctx, store.DependencyPR{ProjectID: id, Number: 1, State: "open", UpdatedAt: t0})
		}},
	} {
		if err := tc.write(); err == nil {
			t.Errorf("%s for unknown project %d: got no error", tc.name, id)
		}
	}
}

func testTxCommit(t *testing.T, s store.Store) {
	ctx := t.Context()
	var p store.Project
	err := s.InTx(ctx, func(tx store.Store) error {
		var err error
		if p, err = tx.CreateProject(ctx, store.Project{Name: "tx", SCM: "git", Location: "/srv/tx.git"}); err != nil {
			return err
		}
		// The transaction reads its own writes.
		if _, err := tx.Project(ctx, p.ID); err != nil {
			return fmt.Errorf("reading back inside the transaction: %w", err)
		}
		if _, err := tx.AddEvent(ctx, store.Event{ProjectID: p.ID, Kind: "created", Message: "in a tx", At: t0}); err != nil {
			return err
		}
		// Nested InTx joins the transaction.
		return tx.InTx(ctx, func(tx store.Store) error {
			_, err := tx.SetDesired(ctx, store.Desired{ProjectID: p.ID, Build: "api", Version: "0.0.1", Instances: 1, SetAt: t0})
			return err
		})
	})
	ok(t, "InTx", err)
	if _, err := s.ProjectByName(ctx, "tx"); err != nil {
		t.Errorf("project written in a committed transaction: %v", err)
	}
	if evs, err := s.Events(ctx, store.EventQuery{ProjectID: p.ID}); err != nil || len(evs) != 1 {
		t.Errorf("events written in a committed transaction: got %d, %v; want 1", len(evs), err)
	}
	if _, err := s.Desired(ctx, p.ID, "api"); err != nil {
		t.Errorf("desired state written in a nested transaction: %v", err)
	}
}

func testTxRollback(t *testing.T, s store.Store) {
	ctx := t.Context()
	keep := createProject(t, s, "keep")
	errBoom := errors.New("boom")
	for _, tc := range []struct {
		name string
		fail func(tx store.Store) error
	}{
		{"fn error", func(store.Store) error { return errBoom }},
		{"store conflict", func(tx store.Store) error {
			_, err := tx.CreateProject(ctx, store.Project{Name: "keep", SCM: "git", Location: "/x"})
			return err
		}},
		{"nested fn error", func(tx store.Store) error {
			return tx.InTx(ctx, func(store.Store) error { return errBoom })
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "gone-" + tc.name
			err := s.InTx(ctx, func(tx store.Store) error {
				p, err := tx.CreateProject(ctx, store.Project{Name: name, SCM: "git", Location: "/gone"})
				if err != nil {
					return err
				}
				if _, err := tx.AddEvent(ctx, store.Event{ProjectID: p.ID, Kind: "gone", Message: name, At: t0}); err != nil {
					return err
				}
				if _, err := tx.SetDesired(ctx, store.Desired{ProjectID: keep.ID, Build: name, Version: "0.0.1", Instances: 1, SetAt: t0}); err != nil {
					return err
				}
				if err := tx.SetHead(ctx, store.Head{ProjectID: keep.ID, Branch: name, SHA: "a", SeenAt: t0}); err != nil {
					return err
				}
				return tc.fail(tx)
			})
			if err == nil {
				t.Fatalf("InTx: got nil error from a failing fn")
			}
			if _, err := s.ProjectByName(ctx, name); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("project after rollback: got error %v, want ErrNotFound", err)
			}
			if evs, err := s.Events(ctx, store.EventQuery{Kind: "gone"}); err != nil || len(evs) != 0 {
				t.Errorf("events after rollback: got %d, %v; want none", len(evs), err)
			}
			if _, err := s.Desired(ctx, keep.ID, name); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("desired state after rollback: got error %v, want ErrNotFound", err)
			}
			if _, err := s.Head(ctx, keep.ID, name); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("head after rollback: got error %v, want ErrNotFound", err)
			}
		})
	}
	err := s.InTx(ctx, func(store.Store) error { return errBoom })
	wantErr(t, "InTx", err, errBoom)

	// The store still works after rollbacks.
	if _, err := s.AddEvent(ctx, store.Event{ProjectID: keep.ID, Kind: "after", Message: "ok", At: t0}); err != nil {
		t.Errorf("AddEvent after rollbacks: %v", err)
	}
}

// testConcurrentTx: transactions running at once all commit, and each
// commits all of its writes.
func testConcurrentTx(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := createProject(t, s, "concurrent-tx")
	const writers, each = 8, 10
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				err := s.InTx(ctx, func(tx store.Store) error {
					branch := fmt.Sprintf("b%d-%d", w, i)
					if err := tx.SetHead(ctx, store.Head{ProjectID: p.ID, Branch: branch, SHA: "a", SeenAt: at(i)}); err != nil {
						return err
					}
					_, err := tx.AddEvent(ctx, store.Event{ProjectID: p.ID, Kind: "head", Message: branch, At: at(i)})
					return err
				})
				if err != nil {
					t.Errorf("InTx %d/%d: %v", w, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	evs := pageAll(t, s, store.EventQuery{ProjectID: p.ID, Kind: "head", Limit: 100})
	if len(evs) != writers*each {
		t.Errorf("events from %d concurrent transactions: got %d, want %d", writers*each, len(evs), writers*each)
	}
	for _, e := range evs {
		if _, err := s.Head(ctx, p.ID, e.Message); err != nil {
			t.Errorf("head %s written in the same transaction as its event: %v", e.Message, err)
		}
	}
}

// testTimes: times come back in UTC with at least millisecond precision,
// and zero times that mean "not yet" come back zero.
func testTimes(t *testing.T, s store.Store) {
	ctx := t.Context()
	in := time.Date(2024, 2, 29, 23, 59, 58, 987_654_321, time.FixedZone("UTC-7", -7*3600))
	check := func(what string, got time.Time) {
		t.Helper()
		if got.Location() != time.UTC {
			t.Errorf("%s: location %v, want UTC", what, got.Location())
		}
		if !got.Truncate(time.Millisecond).Equal(in.Truncate(time.Millisecond)) {
			t.Errorf("%s: got %v, want %v to the millisecond", what, got, in.UTC())
		}
	}
	e, err := s.AddEvent(ctx, store.Event{Kind: "time", Message: "t", At: in})
	ok(t, "AddEvent", err)
	check("AddEvent", e.At)
	evs, err := s.Events(ctx, store.EventQuery{Kind: "time"})
	ok(t, "Events", err)
	if len(evs) != 1 {
		t.Fatalf("Events: got %d, want 1", len(evs))
	}
	check("Events", evs[0].At)

	p := createProject(t, s, "times")
	if p.CreatedAt.Location() != time.UTC {
		t.Errorf("CreateProject: CreatedAt location %v, want UTC", p.CreatedAt.Location())
	}
	ok(t, "SetHead", s.SetHead(ctx, store.Head{ProjectID: p.ID, Branch: "main", SHA: "a", SeenAt: in}))
	h, err := s.Head(ctx, p.ID, "main")
	ok(t, "Head", err)
	check("Head.SeenAt", h.SeenAt)

	ok(t, "PutBuild", s.PutBuild(ctx, store.Build{ProjectID: p.ID, Name: "api", Version: "0.0.1", Status: store.BuildPending}))
	b, err := s.Build(ctx, p.ID, "api", "0.0.1")
	ok(t, "Build", err)
	if !b.StartedAt.IsZero() || !b.FinishedAt.IsZero() {
		t.Errorf("pending build: StartedAt %v, FinishedAt %v; want zero", b.StartedAt, b.FinishedAt)
	}

	_, err = s.AddDelivery(ctx, store.Delivery{ID: "t", Event: "ping", Payload: payload(t, "ping.json"), ReceivedAt: in})
	ok(t, "AddDelivery", err)
	ds, err := s.PendingDeliveries(ctx, 1)
	ok(t, "PendingDeliveries", err)
	if len(ds) != 1 {
		t.Fatalf("PendingDeliveries: got %d, want 1", len(ds))
	}
	check("Delivery.ReceivedAt", ds[0].ReceivedAt)
	if !ds[0].ProcessedAt.IsZero() {
		t.Errorf("pending delivery: ProcessedAt %v, want zero", ds[0].ProcessedAt)
	}
}

func testPing(t *testing.T, s store.Store) {
	if err := s.Ping(context.Background()); err != nil {
		t.Errorf("Ping: %v", err)
	}
}
