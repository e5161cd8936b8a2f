// Package iceberg writes the run's tables as Apache Iceberg tables
// (output.format: iceberg): one table per output table, partitioned by the
// identity of a `dt` date column, registered in a SQL catalog (SQLite or
// Postgres) or a REST catalog, with data files under the output URI. A run
// stages one overwrite of its date per table, writing every data file
// first, then commits them; readers see each table's previous or new rows
// of the date, never a mix. It also reads a date back, finds the latest
// earlier date, appends the runs table and expires what retention allows.
package iceberg

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	ice "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/catalog/rest"
	sqlcat "github.com/apache/iceberg-go/catalog/sql"
	iceio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/uptrace/bun/driver/pgdriver"
	"github.com/uptrace/bun/driver/sqliteshim"

	// Registers the s3:// FileIO.
	_ "github.com/apache/iceberg-go/io/gocloud/s3"
)

// Catalog types.
const (
	TypeSQL  = "sql"
	TypeREST = "rest"
)

// DefaultRetain is catalog.retain_snapshots when unset.
const DefaultRetain = 7 * 24 * time.Hour

// Config says where the catalog is and where the tables' files go.
type Config struct {
	Type string // sql or rest
	// URI: sqlite:///path/catalog.db, postgres://…, or the REST catalog's
	// http(s) URL.
	URI       string
	Namespace string // default "etl"
	Warehouse string // REST: the catalog's warehouse, if it wants one
	Token     string // REST: bearer token
	// SigV4 (REST) signs every request with AWS Signature V4 for the
	// service SigningName (default glue), with the standard AWS
	// configuration's credentials and region.
	SigV4       bool
	SigningName string
	// Location is output.uri: a local directory or s3://bucket/prefix.
	// Table t lives at Location/t.
	Location string
	// Retain is how long a snapshot is kept after it stopped being current,
	// and how old an unreferenced file must be to be removed.
	Retain time.Duration
	// Getenv reads the AWS settings the S3 FileIO needs (default: none).
	Getenv func(string) string
}

// Catalog is an open catalog and the settings of the ETL's tables in it.
type Catalog struct {
	cat      catalog.Catalog
	db       *sql.DB // the SQL catalog's connection, which it does not close itself
	ns       string
	location string // file:///abs or s3://bucket/prefix, no trailing slash
	retain   time.Duration
	props    ice.Properties // FileIO properties
}

// Open connects to the catalog and creates the namespace if missing.
func Open(ctx context.Context, cfg Config) (*Catalog, error) {
	if cfg.Namespace == "" {
		cfg.Namespace = "etl"
	}
	if cfg.Retain <= 0 {
		cfg.Retain = DefaultRetain
	}
	loc, err := Location(cfg.Location)
	if err != nil {
		return nil, err
	}
	getenv := cfg.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	c := &Catalog{ns: cfg.Namespace, location: loc, retain: cfg.Retain, props: S3Props(getenv)}
	switch cfg.Type {
	case TypeSQL:
		if err := c.openSQL(ctx, cfg.URI); err != nil {
			return nil, err
		}
	case TypeREST:
		opts := []rest.Option{rest.WithAdditionalProps(c.props)}
		if cfg.Token != "" {
			opts = append(opts, rest.WithOAuthToken(cfg.Token))
		}
		if cfg.Warehouse != "" {
			opts = append(opts, rest.WithWarehouseLocation(cfg.Warehouse))
		}
		if cfg.SigV4 {
			o, err := sigV4(ctx, cfg.SigningName)
			if err != nil {
				return nil, err
			}
			opts = append(opts, o...)
		}
		rc, err := rest.NewCatalog(ctx, "etl", cfg.URI, opts...)
		if err != nil {
			return nil, fmt.Errorf("iceberg REST catalog %s: %w", cfg.URI, err)
		}
		c.cat = rc
	default:
		return nil, fmt.Errorf("iceberg catalog type %q: use sql or rest", cfg.Type)
	}
	err = c.cat.CreateNamespace(ctx, catalog.ToIdentifier(c.ns), nil)
	if err != nil && !errors.Is(err, catalog.ErrNamespaceAlreadyExists) {
		c.Close()
		return nil, fmt.Errorf("iceberg catalog: creating namespace %s: %w", c.ns, err)
	}
	return c, nil
}

// sigV4 are the REST client's options to sign requests for service with
// the standard AWS configuration (AWS_REGION, the credentials chain).
func sigV4(ctx context.Context, service string) ([]rest.Option, error) {
	if service == "" {
		service = "glue"
	}
	aws, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("iceberg REST catalog: sigv4: %w", err)
	}
	if aws.Region == "" {
		return nil, errors.New("iceberg REST catalog: sigv4: no AWS region to sign for: set AWS_REGION (the catalog's region)")
	}
	return []rest.Option{rest.WithAwsConfig(aws), rest.WithSigV4RegionSvc(aws.Region, service)}, nil
}

// openSQL opens the SQL catalog at uri: sqlite:///path (the file is created
// if missing) or postgres://user:password@host/db.
func (c *Catalog) openSQL(ctx context.Context, uri string) error {
	driver, dsn, dialect, err := sqlSource(uri)
	if err != nil {
		return err
	}
	var db *sql.DB
	if driver == "pg" {
		db = sql.OpenDB(pgdriver.NewConnector(pgdriver.WithDSN(dsn)))
	} else {
		if db, err = sql.Open(driver, dsn); err != nil {
			return err
		}
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return fmt.Errorf("iceberg SQL catalog %s: %w", redactURI(uri), err)
	}
	props := ice.Properties{"warehouse": c.location}
	for k, v := range c.props {
		props[k] = v
	}
	sc, err := sqlcat.NewCatalog("etl", db, dialect, props)
	if err != nil {
		db.Close()
		return fmt.Errorf("iceberg SQL catalog %s: %w", redactURI(uri), err)
	}
	c.db = db
	c.cat = sqlCommits{sc, props}
	return nil
}

// sqlSource maps a catalog URI to a database/sql driver, its DSN and the
// catalog's dialect.
func sqlSource(uri string) (driver, dsn string, dialect sqlcat.SupportedDialect, err error) {
	switch {
	case strings.HasPrefix(uri, "sqlite://"):
		path := strings.TrimPrefix(uri, "sqlite://")
		if path == "" {
			return "", "", "", fmt.Errorf("iceberg SQL catalog %q: no file path (sqlite:///path/catalog.db)", uri)
		}
		// Several runs (of other dates) may commit at once: writers wait
		// for each other rather than fail, and readers never wait (WAL).
		return sqliteshim.ShimName, "file:" + path + "?_pragma=busy_timeout(30000)&_pragma=journal_mode(WAL)", sqlcat.SQLite, nil
	case strings.HasPrefix(uri, "postgres://"), strings.HasPrefix(uri, "postgresql://"):
		return "pg", uri, sqlcat.Postgres, nil
	}
	return "", "", "", fmt.Errorf("iceberg SQL catalog %q: the URI must start with sqlite:// or postgres://", redactURI(uri))
}

// redactURI keeps a password out of messages.
func redactURI(uri string) string {
	if u, err := url.Parse(uri); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "REDACTED")
			return u.String()
		}
	}
	return uri
}

// Location turns output.uri into the base of the tables' locations: an
// s3:// URI as it is, a local directory as an absolute file:// URI.
func Location(uri string) (string, error) {
	if strings.HasPrefix(uri, "s3://") {
		return strings.TrimRight(uri, "/"), nil
	}
	abs, err := filepath.Abs(uri)
	if err != nil {
		return "", err
	}
	return "file://" + filepath.ToSlash(abs), nil
}

// Close closes the catalog and its database connection.
func (c *Catalog) Close() error {
	var errs []error
	if cl, ok := c.cat.(interface{ Close() error }); ok {
		errs = append(errs, cl.Close())
	}
	if c.db != nil {
		errs = append(errs, c.db.Close())
	}
	return errors.Join(errs...)
}

// Namespace is the catalog namespace of the tables.
func (c *Catalog) Namespace() string { return c.ns }

// TableLocation is where table name keeps its files.
func (c *Catalog) TableLocation(name string) string { return c.location + "/" + name }

// S3Props maps the standard AWS settings to the properties of iceberg-go's
// S3 FileIO. It reads the endpoint only from s3.endpoint (or
// AWS_S3_ENDPOINT), and addresses buckets by path only when it has one
// there; otherwise the AWS SDK still finds AWS_ENDPOINT_URL_S3 but asks for
// bucket.host, which S3-compatible servers on localhost do not answer.
func S3Props(getenv func(string) string) ice.Properties {
	p := ice.Properties{}
	first := func(keys ...string) string {
		for _, k := range keys {
			if v := getenv(k); v != "" {
				return v
			}
		}
		return ""
	}
	if v := first("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_S3_ENDPOINT"); v != "" {
		p[iceio.S3EndpointURL] = v
	}
	if v := first("AWS_REGION", "AWS_DEFAULT_REGION"); v != "" {
		p[iceio.S3Region] = v
	}
	if v := getenv("AWS_ACCESS_KEY_ID"); v != "" {
		p[iceio.S3AccessKeyID] = v
		p[iceio.S3SecretAccessKey] = getenv("AWS_SECRET_ACCESS_KEY")
		if t := getenv("AWS_SESSION_TOKEN"); t != "" {
			p[iceio.S3SessionToken] = t
		}
	}
	return p
}

// sqlCommits is the SQL catalog with its tables' commits retried the way
// the REST catalog's are. iceberg-go retries a commit that lost a race
// (table.ErrCommitFailed) by reloading the table and replaying its
// snapshot on top, after checking that the other commit touched none of
// its partitions; but its SQL catalog reports a table that moved since the
// transaction began as a plain failed requirement, so two runs of
// different dates committing at once would fail instead. Here that is
// ErrCommitFailed, and tables loaded through it commit through it.
type sqlCommits struct {
	*sqlcat.Catalog
	props ice.Properties
}

func (c sqlCommits) LoadTable(ctx context.Context, ident table.Identifier) (*table.Table, error) {
	t, err := c.Catalog.LoadTable(ctx, ident)
	if err != nil {
		return nil, err
	}
	return table.New(t.Identifier(), t.Metadata(), t.MetadataLocation(), iceio.LoadFSFunc(c.props, t.MetadataLocation()), c), nil
}

func (c sqlCommits) CommitTable(ctx context.Context, ident table.Identifier, reqs []table.Requirement, updates []table.Update) (table.Metadata, string, error) {
	m, loc, err := c.Catalog.CommitTable(ctx, ident, reqs, updates)
	if err != nil && !errors.Is(err, table.ErrCommitFailed) && strings.HasPrefix(err.Error(), "requirement failed") {
		err = fmt.Errorf("%w: %v", table.ErrCommitFailed, err)
	}
	return m, loc, err
}

func (c sqlCommits) CreateTable(ctx context.Context, ident table.Identifier, sc *ice.Schema, opts ...catalog.CreateTableOpt) (*table.Table, error) {
	if _, err := c.Catalog.CreateTable(ctx, ident, sc, opts...); err != nil {
		return nil, err
	}
	return c.LoadTable(ctx, ident)
}
