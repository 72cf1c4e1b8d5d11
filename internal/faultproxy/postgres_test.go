package faultproxy_test

// These tests put the proxy between database/sql + lib/pq and the real
// PostgreSQL and record how the pair behaves when the server stops or
// freezes: how long a call with a 1 s deadline takes, which error comes
// back, and whether the pool recovers. What they found (lib/pq v1.12.3, Go
// 1.26, PostgreSQL 15):
//
// Down (server gone). A pooled connection is dead but nobody knows until it
// is used: lib/pq writes the query, reads io.EOF and returns
// driver.ErrBadConn (seen as is on a *sql.Conn or *sql.Tx, which cannot
// move to another connection; Rollback too). On *sql.DB, database/sql
// retries on ErrBadConn: twice on a pooled-or-new connection, then once on
// a new one (maxBadConnRetries), throwing each dead connection away; the
// last try dials and gets *net.OpError{Op: "dial"} wrapping
// syscall.ECONNREFUSED, in milliseconds. PingContext is the same. After Up
// the next call succeeds on a new connection: the pool recovers by itself.
//
// Hang (server frozen, SIGSTOP). lib/pq does not honour the context on a
// connection whose server is silent. When the context ends, its
// watchCancel goroutine marks the connection bad and sends a CancelRequest
// on a new connection (which hangs too: bounded by connect_timeout if set,
// else by nothing), but the query's goroutine stays blocked in a Read on
// the original socket, which has no deadline: it returns only when the
// server answers (after Up) or the socket dies. TCP keepalives would not
// help: a frozen server's kernel still answers them. So QueryContext and
// PingContext with a 1 s deadline block until Up; then the query returns
// context.DeadlineExceeded (database/sql's rows see the expired context)
// and PingContext returns nil. Calls that need a connection while the pool
// is at SetMaxOpenConns wait for one and do end at their deadline with
// context.DeadlineExceeded. A call that dials is bounded by connect_timeout
// (the startup handshake runs under it, not under the context) and fails
// with a timeout *net.OpError{Op: "read"}; without connect_timeout it
// blocks until Up.
//
// What a store must do: put connect_timeout in the DSN, and give every
// socket the deadline lib/pq does not: a pq.Dialer whose connections set a
// deadline before each Read and Write (database.WithIOTimeout) turns a
// frozen server into a timeout *net.OpError after that time; lib/pq marks
// the connection bad and the pool replaces it. Choose the I/O timeout longer
// than statement_timeout, so only a silent server trips it.

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/keylin/keylin/database"
	"github.com/keylin/keylin/internal/dbtest"
	"github.com/keylin/keylin/internal/faultproxy"
)

const (
	// callTimeout is the deadline of each call under a fault, as a
	// request handler would set it.
	callTimeout = time.Second
	// failFast bounds how long a call under a fault may take.
	failFast = 5 * time.Second
	// hangWatch is how long a test watches a call blocked by Hang before it
	// ends the hang.
	hangWatch = 6 * time.Second
	// recoverWithin bounds how long the pool takes to work again after Up.
	recoverWithin = 5 * time.Second
)

// postgresTarget returns the host:port of the test PostgreSQL and the URL
// to reach it, or skips tb when PostgreSQL tests are off.
func postgresTarget(tb testing.TB) (string, *url.URL) {
	tb.Helper()
	raw := dbtest.PostgresURL()
	if raw == "" {
		tb.Skip("PostgreSQL tests are off (KEYLIN_TEST_POSTGRES_URL=off)")
	}
	u, err := url.Parse(raw)
	if err != nil {
		tb.Fatalf("parse %s: %v", dbtest.PostgresURL(), err)
	}
	return u.Host, u
}

// proxyDSN returns a DSN for the test PostgreSQL through p, with the given
// query parameters added.
func proxyDSN(u *url.URL, p *faultproxy.Proxy, params ...string) string {
	v := *u
	v.Host = p.Addr()
	q := v.Query()
	for i := 0; i+1 < len(params); i += 2 {
		q.Set(params[i], params[i+1])
	}
	v.RawQuery = q.Encode()
	return v.String()
}

// openPool opens a pool through a new proxy with connect_timeout=2 and
// checks that a query works; the pool holds one idle connection.
func openPool(tb testing.TB) (*sql.DB, *faultproxy.Proxy) {
	tb.Helper()
	target, u := postgresTarget(tb)
	p := faultproxy.New(tb, target)
	db, err := sql.Open("postgres", proxyDSN(u, p, "connect_timeout", "2"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	mustQuery(tb, db)
	return db, p
}

// queryer is what *sql.DB, *sql.Conn and *sql.Tx have in common.
type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// selectOne runs SELECT 1 with a callTimeout deadline and returns its error
// and how long it took.
func selectOne(db queryer) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	start := time.Now()
	var one int
	err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one)
	if err == nil && one != 1 {
		err = fmt.Errorf("SELECT 1 = %d", one)
	}
	return time.Since(start), err
}

// ping runs PingContext, as /readyz does, with a callTimeout deadline.
func ping(db *sql.DB) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	start := time.Now()
	err := db.PingContext(ctx)
	return time.Since(start), err
}

// mustQuery fails tb unless SELECT 1 works.
func mustQuery(tb testing.TB, db queryer) {
	tb.Helper()
	if took, err := selectOne(db); err != nil {
		tb.Fatalf("SELECT 1 (%v): %v", took, err)
	}
}

// expectFailFast runs call under a fault and checks that it fails within
// failFast; it logs the time and the error's classification.
func expectFailFast(tb testing.TB, name string, call func() (time.Duration, error)) error {
	tb.Helper()
	took, err := call()
	tb.Logf("%s: took %v; %s", name, took.Round(time.Millisecond), classify(err))
	if err == nil {
		tb.Fatalf("%s succeeded under the fault", name)
	}
	if took > failFast {
		tb.Errorf("%s took %v, want < %v", name, took, failFast)
	}
	return err
}

// expectRecovery polls SELECT 1 until it works and checks that the pool
// recovered within recoverWithin.
func expectRecovery(tb testing.TB, db *sql.DB) {
	tb.Helper()
	start := time.Now()
	for attempt := 1; ; attempt++ {
		took, err := selectOne(db)
		if err == nil {
			tb.Logf("recovered after Up: %v, %d attempt(s), last took %v; pool: %s",
				time.Since(start).Round(time.Millisecond), attempt, took.Round(time.Millisecond), poolStats(db))
			return
		}
		if time.Since(start) > recoverWithin {
			tb.Fatalf("pool did not recover within %v: %s", recoverWithin, classify(err))
		}
		tb.Logf("after Up, attempt %d (%v): %s", attempt, took.Round(time.Millisecond), classify(err))
		time.Sleep(100 * time.Millisecond)
	}
}

// poolStats summarises db's pool.
func poolStats(db *sql.DB) string {
	s := db.Stats()
	return fmt.Sprintf("open=%d inUse=%d idle=%d", s.OpenConnections, s.InUse, s.Idle)
}

// watch runs call in a goroutine and waits up to hangWatch for it. If it
// has not returned by then, watch logs so, runs end (the test's Up) and
// waits for the call again. It returns what the call returned and how long
// it took in all.
func watch(tb testing.TB, name string, call func() (time.Duration, error), end func()) (time.Duration, error) {
	tb.Helper()
	type result struct {
		took time.Duration
		err  error
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		took, err := call()
		done <- result{took, err}
	}()
	select {
	case r := <-done:
		tb.Logf("%s: returned under the fault after %v; %s", name, r.took.Round(time.Millisecond), classify(r.err))
		return r.took, r.err
	case <-time.After(hangWatch):
	}
	tb.Logf("%s: still blocked %v after its %v deadline; ending the fault", name, hangWatch-callTimeout, callTimeout)
	end()
	select {
	case r := <-done:
		tb.Logf("%s: returned %v after the fault ended (%v in all); %s",
			name, time.Since(start.Add(hangWatch)).Round(time.Millisecond), r.took.Round(time.Millisecond), classify(r.err))
		return r.took, r.err
	case <-time.After(10 * time.Second):
		tb.Fatalf("%s: still blocked 10s after the fault ended", name)
		return 0, nil
	}
}

// classify says what err is, in the terms a caller can test with errors.Is
// and errors.As.
func classify(err error) string {
	if err == nil {
		return "no error"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "error %q; types:", err)
	for e := err; e != nil; e = errors.Unwrap(e) {
		fmt.Fprintf(&b, " %T", e)
	}
	b.WriteString("; matches:")
	for _, target := range []struct {
		name string
		err  error
	}{
		{"context.DeadlineExceeded", context.DeadlineExceeded},
		{"context.Canceled", context.Canceled},
		{"driver.ErrBadConn", driver.ErrBadConn},
		{"sql.ErrConnDone", sql.ErrConnDone},
		{"io.EOF", io.EOF},
		{"io.ErrUnexpectedEOF", io.ErrUnexpectedEOF},
		{"os.ErrDeadlineExceeded", os.ErrDeadlineExceeded},
		{"net.ErrClosed", net.ErrClosed},
		{"syscall.ECONNREFUSED", syscall.ECONNREFUSED},
		{"syscall.ECONNRESET", syscall.ECONNRESET},
		{"syscall.EPIPE", syscall.EPIPE},
	} {
		if errors.Is(err, target.err) {
			fmt.Fprintf(&b, " %s", target.name)
		}
	}
	if op, ok := errors.AsType[*net.OpError](err); ok {
		fmt.Fprintf(&b, " *net.OpError{Op:%q}", op.Op)
	}
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		b.WriteString(" net.Error.Timeout()")
	}
	if pqErr := pq.As(err); pqErr != nil {
		fmt.Fprintf(&b, " *pq.Error{Code:%s (%s), Severity:%s}", pqErr.Code, pqErr.Code.Name(), pqErr.Severity)
	}
	return b.String()
}

func TestPostgres(t *testing.T) {
	t.Run("Query", func(t *testing.T) {
		db, _ := openPool(t)
		mustQuery(t, db)
	})

	t.Run("DownUp", func(t *testing.T) {
		db, p := openPool(t)
		// Two idle connections, database/sql's default maximum.
		db.SetMaxIdleConns(2)
		holdConns(t, db, 2)
		t.Logf("before Down: %s", poolStats(db))

		p.Down()
		err := expectFailFast(t, "SELECT 1 on a warm pool", func() (time.Duration, error) { return selectOne(db) })
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("want an error matching syscall.ECONNREFUSED")
		}
		t.Logf("after the failed SELECT: %s", poolStats(db))
		expectFailFast(t, "PingContext", func() (time.Duration, error) { return ping(db) })
		expectFailFast(t, "SELECT 1 again", func() (time.Duration, error) { return selectOne(db) })

		p.Up()
		expectRecovery(t, db)
	})

	t.Run("DownPinned", func(t *testing.T) {
		// A *sql.Conn or *sql.Tx stays on its connection, so database/sql
		// cannot retry on another: this shows what lib/pq itself returns for
		// a connection whose server is gone.
		db, p := openPool(t)
		ctx := context.Background()
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		mustQuery(t, conn)
		mustQuery(t, tx)

		p.Down()
		err = expectFailFast(t, "SELECT 1 on a *sql.Conn", func() (time.Duration, error) { return selectOne(conn) })
		if !errors.Is(err, driver.ErrBadConn) {
			t.Errorf("want an error matching driver.ErrBadConn")
		}
		expectFailFast(t, "SELECT 1 in a *sql.Tx", func() (time.Duration, error) { return selectOne(tx) })
		t.Logf("Rollback: %s", classify(tx.Rollback()))

		p.Up()
		expectFailFast(t, "SELECT 1 on the same *sql.Conn after Up", func() (time.Duration, error) { return selectOne(conn) })
		expectRecovery(t, db)
	})

	t.Run("HangWarm", func(t *testing.T) {
		// A query on the connection the pool already holds.
		db, p := openPool(t)
		p.Hang()
		took, _ := watch(t, "SELECT 1 on a pooled connection", func() (time.Duration, error) { return selectOne(db) }, p.Up)
		t.Logf("SELECT 1 under Hang: %v in all, deadline %v: %s", took.Round(time.Millisecond), callTimeout, verdict(took))
		p.Up()
		expectRecovery(t, db)
	})

	t.Run("HangPing", func(t *testing.T) {
		// /readyz pings on a pooled connection.
		db, p := openPool(t)
		p.Hang()
		took, _ := watch(t, "PingContext on a pooled connection", func() (time.Duration, error) { return ping(db) }, p.Up)
		t.Logf("PingContext under Hang: %v in all, deadline %v: %s", took.Round(time.Millisecond), callTimeout, verdict(took))
		p.Up()
		expectRecovery(t, db)
	})

	t.Run("HangPoolExhausted", func(t *testing.T) {
		// Once every connection the pool may open is stuck, other calls
		// wait for one and do end at their deadline.
		db, p := openPool(t)
		db.SetMaxOpenConns(1)
		p.Hang()
		stuck := make(chan error, 1)
		go func() {
			_, err := selectOne(db)
			stuck <- err
		}()
		for db.Stats().InUse == 0 {
			time.Sleep(time.Millisecond)
		}
		expectFailFast(t, "SELECT 1 waiting for a connection", func() (time.Duration, error) { return selectOne(db) })
		t.Logf("pool: %s, waited for a connection %d time(s)", poolStats(db), db.Stats().WaitCount)
		p.Up()
		t.Logf("stuck SELECT 1 after Up: %s", classify(<-stuck))
		expectRecovery(t, db)
	})

	t.Run("HangNewConnection", func(t *testing.T) {
		// The pool is empty, so the query dials: the startup handshake runs
		// under connect_timeout=2.
		db, p := openPool(t)
		db.SetMaxIdleConns(0) // the warm-up connection is closed
		p.Hang()
		took, _ := watch(t, "SELECT 1 on a new connection, connect_timeout=2", func() (time.Duration, error) { return selectOne(db) }, p.Up)
		t.Logf("new connection under Hang, connect_timeout=2: %v in all: %s", took.Round(time.Millisecond), verdict(took))
		p.Up()
		expectRecovery(t, db)
	})

	t.Run("HangNewConnectionNoConnectTimeout", func(t *testing.T) {
		target, u := postgresTarget(t)
		p := faultproxy.New(t, target)
		db, err := sql.Open("postgres", proxyDSN(u, p))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		p.Hang()
		took, _ := watch(t, "SELECT 1 on a new connection, no connect_timeout", func() (time.Duration, error) { return selectOne(db) }, p.Up)
		t.Logf("new connection under Hang, no connect_timeout: %v in all: %s", took.Round(time.Millisecond), verdict(took))
		p.Up()
		expectRecovery(t, db)
	})

	t.Run("HangIOTimeout", func(t *testing.T) {
		// The fix, as keylin serves: database.WithIOTimeout gives every
		// connection a dialer whose connections time out a silent Read.
		target, u := postgresTarget(t)
		p := faultproxy.New(t, target)
		kdb, err := database.Open(context.Background(), proxyDSN(u, p), database.WithIOTimeout(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		db := kdb.DB
		t.Cleanup(func() { db.Close() })
		mustQuery(t, db)

		p.Hang()
		err = expectFailFast(t, "SELECT 1 on a pooled connection, 2s I/O timeout", func() (time.Duration, error) { return selectOne(db) })
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("want an error matching os.ErrDeadlineExceeded")
		}
		expectFailFast(t, "PingContext, 2s I/O timeout", func() (time.Duration, error) { return ping(db) })
		expectFailFast(t, "SELECT 1 again, 2s I/O timeout", func() (time.Duration, error) { return selectOne(db) })
		t.Logf("under Hang: %s", poolStats(db))

		p.Up()
		expectRecovery(t, db)
	})
}

// holdConns makes db open n connections at once and puts them back idle.
func holdConns(tb testing.TB, db *sql.DB, n int) {
	tb.Helper()
	ctx := context.Background()
	conns := make([]*sql.Conn, n)
	for i := range conns {
		c, err := db.Conn(ctx)
		if err != nil {
			tb.Fatal(err)
		}
		if err := c.PingContext(ctx); err != nil {
			tb.Fatal(err)
		}
		conns[i] = c
	}
	for _, c := range conns {
		c.Close()
	}
}

// verdict says whether a call honoured its deadline.
func verdict(took time.Duration) string {
	if took < callTimeout+time.Second {
		return "honoured the deadline"
	}
	if took < failFast {
		return "late but bounded"
	}
	return "did NOT honour the deadline"
}
