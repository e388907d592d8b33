package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/tenantfleet/tenantfleet/infra/provider"
)

// A replica ref is "<replica id>@<host>:<port>/<database>": the replica's
// id, the configured standby it is on and the instance database it
// serves. Database names never hold '@' ('_' replaces '-'), so a ref is
// never a database name.
const standbyRefSep = "@"

func isStandbyRef(ref string) bool { return strings.Contains(ref, standbyRefSep) }

// standbyRef builds a replica ref.
func standbyRef(replicaID, standby, database string) string {
	return replicaID + standbyRefSep + standby + "/" + database
}

// splitStandby parses a configured "host:port".
func splitStandby(s string) (string, int, error) {
	host, portText, err := net.SplitHostPort(s)
	port, perr := strconv.Atoi(portText)
	if err != nil || perr != nil || host == "" || port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("standby %q: want host:port", s)
	}
	return host, port, nil
}

// parseStandbyRef splits a replica ref and checks its standby is one of
// Config.Standbys: a ref never makes the provider connect elsewhere.
func (p *Provider) parseStandbyRef(ref string) (id, standby, database string, err error) {
	id, rest, _ := strings.Cut(ref, standbyRefSep)
	standby, database, ok := strings.Cut(rest, "/")
	if !ok || provider.ValidateID(id) != nil || database == "" || strings.ContainsAny(database, "/@") ||
		!slices.Contains(p.cfg.Standbys, standby) {
		return "", "", "", fmt.Errorf("local: replica ref %q: %w: not a replica of a configured standby", ref, provider.ErrInvalid)
	}
	return id, standby, database, nil
}

// CreateReadReplica attaches a read replica of the instance database
// sourceRef: the local provider starts no server, it reports the first of
// Config.Standbys that answers as a standby (in recovery) holding
// sourceRef, as replica replicaID, ready. Attaching again returns the
// same replica. With no standby configured the error wraps
// provider.ErrUnsupported; with none usable, provider.ErrUnavailable.
func (p *Provider) CreateReadReplica(ctx context.Context, sourceRef, replicaID string) (provider.Instance, error) {
	if err := provider.ValidateID(replicaID); err != nil {
		return provider.Instance{}, fmt.Errorf("local: create replica: %w", err)
	}
	if isStandbyRef(sourceRef) {
		return provider.Instance{}, fmt.Errorf("local: create replica of %s: %w: a replica has no replicas", sourceRef, provider.ErrInvalid)
	}
	if len(p.cfg.Standbys) == 0 {
		return provider.Instance{}, fmt.Errorf("local: read replica of %s: %w: no standby configured (local provider Standbys)", sourceRef, provider.ErrUnsupported)
	}
	if _, err := p.Describe(ctx, sourceRef); err != nil {
		return provider.Instance{}, fmt.Errorf("local: create replica: source: %w", err)
	}
	var errs []error
	for _, sb := range p.cfg.Standbys {
		inst, err := p.describeStandby(ctx, standbyRef(replicaID, sb, sourceRef))
		if err == nil && inst.Status == provider.StatusReady {
			p.log.InfoContext(ctx, "local replica attached", slog.String("replica", replicaID),
				slog.String("standby", sb), slog.String("database", sourceRef))
			return inst, nil
		}
		if err == nil {
			err = errors.New(inst.StatusReason)
		}
		errs = append(errs, fmt.Errorf("standby %s: %w", sb, err))
	}
	return provider.Instance{}, fmt.Errorf("local: create replica of %s: %w: no usable standby: %w", sourceRef, provider.ErrUnavailable, errors.Join(errs...))
}

// describeStandby reports replica ref: ready while its standby answers in
// recovery with the database, failed when it answers but is not a standby
// (promoted) or does not answer, not found when the database is not on
// it.
func (p *Provider) describeStandby(ctx context.Context, ref string) (provider.Instance, error) {
	id, sb, database, err := p.parseStandbyRef(ref)
	if err != nil {
		return provider.Instance{}, err
	}
	host, port, _ := splitStandby(sb)
	inst := provider.Instance{
		ID: id, ProviderRef: ref, Status: provider.StatusReady, Host: host, Port: port, Database: database,
		MaxConnections: p.cfg.MaxConnections, StorageBytes: p.cfg.StorageBytes, ReplicaOf: database,
	}
	cfg, err := pgx.ParseConfig(p.cfg.AdminURL)
	if err != nil {
		return provider.Instance{}, fmt.Errorf("%w: local provider config: admin url: not a valid PostgreSQL connection string", provider.ErrInvalid)
	}
	cfg.Host, cfg.Port, cfg.Database, cfg.Fallbacks = host, uint16(port), database, nil //nolint:gosec // port checked by splitStandby
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		if pgErrCode(err) == "3D000" {
			return provider.Instance{}, fmt.Errorf("local: describe %s: %w", ref, provider.ErrNotFound)
		}
		if ctx.Err() != nil {
			return provider.Instance{}, fmt.Errorf("local: describe %s: %w", ref, ctx.Err())
		}
		inst.Status, inst.StatusReason = provider.StatusFailed, "standby does not answer"
		return inst, nil
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var recovering bool
	if err := conn.QueryRow(ctx, "SELECT pg_catalog.pg_is_in_recovery()").Scan(&recovering); err != nil {
		return provider.Instance{}, translate("describe "+ref, err)
	}
	if !recovering {
		inst.Status, inst.StatusReason = provider.StatusFailed, "server is not in recovery (promoted, or not a standby)"
	}
	return inst, nil
}

// detachStandby is Delete of a replica ref: nothing to stop or drop; a
// malformed ref or one of an unconfigured standby is refused.
func (p *Provider) detachStandby(ctx context.Context, ref string) error {
	id, sb, database, err := p.parseStandbyRef(ref)
	if err != nil {
		return err
	}
	p.log.InfoContext(ctx, "local replica detached (the standby keeps running)", slog.String("replica", id),
		slog.String("standby", sb), slog.String("database", database))
	return nil
}
