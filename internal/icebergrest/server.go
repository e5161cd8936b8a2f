// Package icebergrest is a minimal Iceberg REST catalog server for tests,
// backed by any catalog.Catalog (Start: a SQLite SQL catalog). It serves
// just the routes iceberg-go's catalog/rest client needs to create, load and
// commit tables, and the multi-table POST /v1/transactions/commit; it can
// require AWS SigV4 signatures, checked as AWS checks them. A test
// fixture, not a server: no other auth, no pagination, no views, and the
// multi-table commit checks every requirement before applying any, under a
// mutex, but is not atomic against a crash of the server itself.
package icebergrest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	sqlcat "github.com/apache/iceberg-go/catalog/sql"
	"github.com/apache/iceberg-go/table"
	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/uptrace/bun/driver/sqliteshim"
)

// Server serves the REST API over a backend catalog.
type Server struct {
	backend catalog.Catalog
	mu      sync.Mutex // serializes commits
	mux     *http.ServeMux
	txns    int // multi-table commits applied
	sigv4   *sigv4
	noTxns  atomic.Bool
}

// Transactions counts the multi-table commits applied.
func (s *Server) Transactions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.txns
}

// New builds the handler. Mount it at the root of an httptest.Server and give
// the client the server URL as "uri".
func New(backend catalog.Catalog) *Server {
	s := &Server{backend: backend, mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /v1/config", s.config)
	s.mux.HandleFunc("GET /v1/namespaces", s.listNamespaces)
	s.mux.HandleFunc("POST /v1/namespaces", s.createNamespace)
	s.mux.HandleFunc("GET /v1/namespaces/{ns}", s.loadNamespace)
	s.mux.HandleFunc("HEAD /v1/namespaces/{ns}", s.loadNamespace)
	s.mux.HandleFunc("GET /v1/namespaces/{ns}/tables", s.listTables)
	s.mux.HandleFunc("POST /v1/namespaces/{ns}/tables", s.createTable)
	s.mux.HandleFunc("GET /v1/namespaces/{ns}/tables/{tbl}", s.loadTable)
	s.mux.HandleFunc("HEAD /v1/namespaces/{ns}/tables/{tbl}", s.loadTable)
	s.mux.HandleFunc("POST /v1/namespaces/{ns}/tables/{tbl}", s.commitTable)
	s.mux.HandleFunc("DELETE /v1/namespaces/{ns}/tables/{tbl}", s.dropTable)
	s.mux.HandleFunc("POST /v1/transactions/commit", s.commitTransaction)
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.sigv4 != nil {
		if err := s.sigv4.verify(r); err != nil {
			writeJSON(w, http.StatusForbidden, map[string]any{"error": map[string]any{"message": err.Error(), "type": "ForbiddenException", "code": 403}})
			return
		}
	}
	s.mux.ServeHTTP(w, r)
}

// namespace path segments are joined with 0x1F (sent as %1F).
func nsOf(r *http.Request) table.Identifier { return strings.Split(r.PathValue("ns"), "\x1f") }

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}

// writeErr maps catalog errors to the REST error model.
func writeErr(w http.ResponseWriter, err error) {
	code, typ := http.StatusInternalServerError, "ServerError"
	msg := err.Error()
	switch {
	case errors.Is(err, catalog.ErrNoSuchNamespace):
		code, typ = http.StatusNotFound, "NoSuchNamespaceException"
	case errors.Is(err, catalog.ErrNoSuchTable):
		code, typ = http.StatusNotFound, "NoSuchTableException"
	case errors.Is(err, catalog.ErrNamespaceAlreadyExists):
		code, typ = http.StatusConflict, "AlreadyExistsException"
	case errors.Is(err, catalog.ErrTableAlreadyExists):
		code, typ = http.StatusConflict, "AlreadyExistsException"
	case errors.Is(err, table.ErrCommitFailed), strings.Contains(strings.ToLower(msg), "requirement failed"):
		code, typ = http.StatusConflict, "CommitFailedException"
	case errors.Is(err, errBadRequest):
		code, typ = http.StatusBadRequest, "BadRequestException"
	}
	writeJSON(w, code, map[string]any{"error": map[string]any{"message": msg, "type": typ, "code": code}})
}

var errBadRequest = errors.New("bad request")

func (s *Server) config(w http.ResponseWriter, r *http.Request) {
	// No "endpoints": the client then assumes the spec default set, which
	// includes POST /v1/{prefix}/transactions/commit.
	writeJSON(w, 200, map[string]any{"defaults": map[string]string{}, "overrides": map[string]string{}})
}

func (s *Server) listNamespaces(w http.ResponseWriter, r *http.Request) {
	nss, err := s.backend.ListNamespaces(r.Context(), nil)
	if err != nil {
		writeErr(w, err)
		return
	}
	if nss == nil {
		nss = []table.Identifier{}
	}
	writeJSON(w, 200, map[string]any{"namespaces": nss})
}

func (s *Server) createNamespace(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Namespace  table.Identifier   `json:"namespace"`
		Properties iceberg.Properties `json:"properties"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeErr(w, fmt.Errorf("%w: %v", errBadRequest, err))
		return
	}
	if err := s.backend.CreateNamespace(r.Context(), req.Namespace, req.Properties); err != nil {
		writeErr(w, err)
		return
	}
	if req.Properties == nil {
		req.Properties = iceberg.Properties{}
	}
	writeJSON(w, 200, map[string]any{"namespace": req.Namespace, "properties": req.Properties})
}

func (s *Server) loadNamespace(w http.ResponseWriter, r *http.Request) {
	ns := nsOf(r)
	props, err := s.backend.LoadNamespaceProperties(r.Context(), ns)
	if err != nil {
		writeErr(w, err)
		return
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeJSON(w, 200, map[string]any{"namespace": ns, "properties": props})
}

func (s *Server) listTables(w http.ResponseWriter, r *http.Request) {
	ns := nsOf(r)
	ids := []map[string]any{}
	for id, err := range s.backend.ListTables(r.Context(), ns) {
		if err != nil {
			writeErr(w, err)
			return
		}
		ids = append(ids, map[string]any{"namespace": catalog.NamespaceFromIdent(id), "name": catalog.TableNameFromIdent(id)})
	}
	writeJSON(w, 200, map[string]any{"identifiers": ids})
}

func loadResult(t *table.Table) map[string]any {
	return map[string]any{"metadata-location": t.MetadataLocation(), "metadata": t.Metadata(), "config": map[string]string{}}
}

func (s *Server) createTable(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name          string                 `json:"name"`
		Schema        *iceberg.Schema        `json:"schema"`
		Location      string                 `json:"location"`
		PartitionSpec *iceberg.PartitionSpec `json:"partition-spec"`
		WriteOrder    *table.SortOrder       `json:"write-order"`
		StageCreate   bool                   `json:"stage-create"`
		Properties    iceberg.Properties     `json:"properties"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeErr(w, fmt.Errorf("%w: %v", errBadRequest, err))
		return
	}
	if req.StageCreate {
		writeErr(w, fmt.Errorf("%w: stage-create not supported by this test server", errBadRequest))
		return
	}
	opts := []catalog.CreateTableOpt{catalog.WithProperties(req.Properties)}
	if req.Location != "" {
		opts = append(opts, catalog.WithLocation(req.Location))
	}
	if req.PartitionSpec != nil {
		opts = append(opts, catalog.WithPartitionSpec(req.PartitionSpec))
	}
	if req.WriteOrder != nil {
		opts = append(opts, catalog.WithSortOrder(*req.WriteOrder))
	}
	ident := append(append(table.Identifier{}, nsOf(r)...), req.Name)
	t, err := s.backend.CreateTable(r.Context(), ident, req.Schema, opts...)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, 200, loadResult(t))
}

func (s *Server) loadTable(w http.ResponseWriter, r *http.Request) {
	ident := append(append(table.Identifier{}, nsOf(r)...), r.PathValue("tbl"))
	t, err := s.backend.LoadTable(r.Context(), ident)
	if err != nil {
		writeErr(w, err)
		return
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeJSON(w, 200, loadResult(t))
}

func (s *Server) dropTable(w http.ResponseWriter, r *http.Request) {
	ident := append(append(table.Identifier{}, nsOf(r)...), r.PathValue("tbl"))
	if err := s.backend.DropTable(r.Context(), ident); err != nil {
		writeErr(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// tableChange is one element of a commit: the client sends requirements and
// updates as tagged JSON objects ({"type": "assert-ref-snapshot-id", ...},
// {"action": "add-snapshot", ...}).
type tableChange struct {
	Identifier struct {
		Namespace table.Identifier `json:"namespace"`
		Name      string           `json:"name"`
	} `json:"identifier"`
	Requirements []json.RawMessage `json:"requirements"`
	Updates      table.Updates     `json:"updates"`
}

func (c tableChange) parse(fallback table.Identifier) (table.Identifier, []table.Requirement, error) {
	ident := fallback
	if c.Identifier.Name != "" {
		ident = append(append(table.Identifier{}, c.Identifier.Namespace...), c.Identifier.Name)
	}
	reqs := make([]table.Requirement, 0, len(c.Requirements))
	for _, raw := range c.Requirements {
		req, err := table.ParseRequirementBytes(raw)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %v", errBadRequest, err)
		}
		reqs = append(reqs, req)
	}
	return ident, reqs, nil
}

func (s *Server) commitTable(w http.ResponseWriter, r *http.Request) {
	var c tableChange
	if err := json.NewDecoder(r.Body).Decode(&c); err != nil {
		writeErr(w, fmt.Errorf("%w: %v", errBadRequest, err))
		return
	}
	ident, reqs, err := c.parse(append(append(table.Identifier{}, nsOf(r)...), r.PathValue("tbl")))
	if err != nil {
		writeErr(w, err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	meta, loc, err := s.backend.CommitTable(r.Context(), ident, reqs, c.Updates)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, 200, map[string]any{"metadata-location": loc, "metadata": meta})
}

type parsedChange struct {
	ident table.Identifier
	reqs  []table.Requirement
	upds  table.Updates
}

func (s *Server) commitTransaction(w http.ResponseWriter, r *http.Request) {
	if s.noTxns.Load() {
		http.NotFound(w, r)
		return
	}
	var body struct {
		TableChanges []tableChange `json:"table-changes"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeErr(w, fmt.Errorf("%w: %v", errBadRequest, err))
		return
	}
	var all []parsedChange
	for _, c := range body.TableChanges {
		ident, reqs, err := c.parse(nil)
		if err != nil {
			writeErr(w, err)
			return
		}
		all = append(all, parsedChange{ident, reqs, c.Updates})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Phase 1: every requirement against current metadata, nothing applied yet.
	if err := s.validateAll(r.Context(), all); err != nil {
		writeErr(w, err)
		return
	}
	// Phase 2: apply. (A real server does this in one catalog transaction.)
	for _, p := range all {
		if _, _, err := s.backend.CommitTable(r.Context(), p.ident, p.reqs, p.upds); err != nil {
			writeErr(w, fmt.Errorf("partial multi-table commit: %w", err))
			return
		}
	}
	s.txns++
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) validateAll(ctx context.Context, all []parsedChange) error {
	for _, p := range all {
		t, err := s.backend.LoadTable(ctx, p.ident)
		if err != nil {
			return err
		}
		for _, req := range p.reqs {
			if err := req.Validate(t.Metadata()); err != nil {
				return fmt.Errorf("%w: %v: %v", table.ErrCommitFailed, p.ident, err)
			}
		}
	}
	return nil
}

// Started is a REST catalog served on loopback for one test, over a SQLite
// SQL catalog whose file readers can open.
type Started struct {
	*Server
	URL     string // the REST catalog's base URL
	Catalog string // the SQLite file behind it
}

// Start serves a REST catalog over a new SQLite catalog in dir, whose
// tables default to locations under warehouse; both stop with the test.
func Start(t testing.TB, dir, warehouse string) Started {
	t.Helper()
	path := filepath.Join(dir, "rest-catalog.db")
	db, err := sql.Open(sqliteshim.ShimName, "file:"+path+"?_pragma=busy_timeout(30000)&_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	backend, err := sqlcat.NewCatalog("rest", db, sqlcat.SQLite, iceberg.Properties{"warehouse": warehouse})
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	s := New(backend)
	srv := httptest.NewServer(s)
	t.Cleanup(func() {
		srv.Close()
		backend.Close()
		db.Close()
	})
	return Started{Server: s, URL: srv.URL, Catalog: path}
}

// WithoutTransactions makes the server answer POST /v1/transactions/commit
// as a server without the route does (404), while its config still lets
// clients assume it: as AWS Glue's Iceberg endpoint, which has no
// multi-table commits.
func (s *Server) WithoutTransactions() { s.noTxns.Store(true) }

// RequireSigV4 makes the server refuse (403) every request that is not
// signed with AWS Signature V4 by creds for region and service, as AWS
// Glue's Iceberg REST endpoint does: the signature is computed again here
// from the request as received (the headers it names as signed, the body's
// hash) and must be the one sent.
func (s *Server) RequireSigV4(creds aws.Credentials, region, service string) {
	s.sigv4 = &sigv4{creds: creds, region: region, service: service}
}

// Verified counts the requests whose signature was checked and matched.
func (s *Server) Verified() int {
	if s.sigv4 == nil {
		return 0
	}
	return int(s.sigv4.verified.Load())
}

type sigv4 struct {
	creds           aws.Credentials
	region, service string
	verified        atomic.Int64
}

func (v *sigv4) verify(r *http.Request) error {
	auth := r.Header.Get("Authorization")
	params, ok := strings.CutPrefix(auth, "AWS4-HMAC-SHA256 ")
	if !ok {
		return errors.New("the request is not signed with AWS Signature V4")
	}
	var signed string
	for _, p := range strings.Split(params, ", ") {
		if k, val, ok := strings.Cut(p, "="); ok && k == "SignedHeaders" {
			signed = val
		}
	}
	at, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return fmt.Errorf("X-Amz-Date: %v", err)
	}
	if d := time.Since(at); d > 5*time.Minute || d < -5*time.Minute {
		return fmt.Errorf("the signature's time %s is not now", at)
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	if got := r.Header.Get("X-Amz-Content-Sha256"); got != hash {
		return fmt.Errorf("X-Amz-Content-Sha256 %q is not the body's hash", got)
	}
	u := *r.URL
	u.Scheme, u.Host = "http", r.Host
	again, err := http.NewRequestWithContext(r.Context(), r.Method, u.String(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	for _, h := range strings.Split(signed, ";") {
		if h != "host" && h != "content-length" {
			again.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	if err := v4.NewSigner().SignHTTP(r.Context(), v.creds, again, hash, v.service, v.region, at); err != nil {
		return err
	}
	if again.Header.Get("Authorization") != auth {
		return errors.New("the signature does not match (wrong key, region or service, or a changed request)")
	}
	v.verified.Add(1)
	return nil
}
