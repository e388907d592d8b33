package cost

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/tenantfleet/tenantfleet/agents/migrate"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
)

// IndexEntryWriteMS is the estimated time one index entry costs a write:
// a btree insertion with its WAL, in shared buffers (an estimate, not a
// measurement: 10 microseconds). An index takes one entry per inserted
// row and per update that is not HOT; deleted rows cost it only at
// vacuum, which the estimate leaves out.
const IndexEntryWriteMS = 0.01

// Reasons of a drop_index tenant.
const (
	DropUnused    = "unused"
	DropDuplicate = "duplicate"
)

// DropTenantEvidence is one tenant's index behind a drop_index
// recommendation.
type DropTenantEvidence struct {
	TenantID   string `json:"tenant_id"`
	InstanceID string `json:"instance_id"`
	// Index is the index's name in the tenant's schema.
	Index string `json:"index"`
	// Reason is unused (idx_scan 0 over the window, in most tenants that
	// have the index) or duplicate (CoveredBy serves what it does).
	Reason    string `json:"reason"`
	CoveredBy string `json:"covered_by,omitempty"`
	// CoveredByDefinition is the covering index's normalized definition.
	CoveredByDefinition string `json:"covered_by_definition,omitempty"`
	SizeBytes           int64  `json:"size_bytes"`
	// IdxScan is the index's scans over the window.
	IdxScan int64 `json:"idx_scan"`
	// TableWrites are the rows inserted, updated and deleted in the
	// table over the window; IndexEntries the entries the index took for
	// them (inserts and non-HOT updates).
	TableWrites  int64 `json:"table_writes"`
	IndexEntries int64 `json:"index_entries"`
	// Window says what the window is (since the previous analysis, or
	// since the statistics were reset: the first analysis).
	Window      string    `json:"window"`
	WindowStart time.Time `json:"window_start"`
	WindowEnd   time.Time `json:"window_end"`
	// StorageUSD is the index's size at the storage price; WriteUSD the
	// estimated write time it costs (IndexEntries x IndexEntryWriteMS at
	// the window's rate) at the instance's compute price; SavingUSD both.
	StorageUSD float64 `json:"storage_monthly_usd"`
	WriteUSD   float64 `json:"write_monthly_usd"`
	SavingUSD  float64 `json:"monthly_saving_usd"`
}

// DropIndexEvidence is a drop_index recommendation's evidence. Apply
// rebuilds the DDL from Index.
type DropIndexEvidence struct {
	Table string `json:"table"`
	Index string `json:"index"`
	// Definition is the index's normalized definition, the same in every
	// tenant named.
	Definition string `json:"definition"`
	// TenantsWithIndex counts the tenants with a valid index of this
	// table, name and definition; UnusedTenants those where it was not
	// scanned over the window; NewTenants those where it was created
	// during the window (not judged).
	TenantsWithIndex int                  `json:"tenants_with_index"`
	UnusedTenants    int                  `json:"unused_tenants"`
	NewTenants       int                  `json:"new_in_window"`
	Tenants          []DropTenantEvidence `json:"tenants"`
	StorageBytes     int64                `json:"storage_bytes"`
	// IndexEntryWriteMS is the estimate's time per index entry.
	IndexEntryWriteMS float64 `json:"index_entry_write_ms"`
}

// dropKey groups an index across tenant schemas: the same table, name
// and normalized definition (not the oid or schema). The name is part of
// it because one recommendation is one statement for every tenant.
type dropKey struct{ Table, Name, Definition string }

func (k dropKey) key() string { return k.Table + "/" + k.Name + " " + k.Definition }

// adviseDrops returns one drop_index recommendation per index (table,
// name, definition) that is a duplicate in some tenants, or unused over
// the window in most of the tenants that have it, naming those tenants.
func (a *Analyzer) adviseDrops(usages []instanceUsage) ([]controlplane.Recommendation, error) {
	type member struct {
		u       *instanceUsage
		ix      tenantIndex
		judged  bool
		scans   int64
		covered tenantIndex
		dup     bool
	}
	groups := map[dropKey][]member{}
	// The indexes that cover a duplicate advised for dropping: never
	// advised as unused themselves (the planner used the duplicate
	// instead; dropping both would leave nothing).
	type instOID struct {
		inst string
		oid  int64
	}
	covering := map[instOID]bool{}
	for i := range usages {
		u := &usages[i]
		byTable := map[[2]string][]tenantIndex{}
		for _, ix := range u.reading.Indexes {
			byTable[[2]string{ix.Schema, ix.Table}] = append(byTable[[2]string{ix.Schema, ix.Table}], ix)
		}
		for _, ix := range u.reading.Indexes {
			if _, ok := u.bySchema[ix.Schema]; !ok || !ix.Valid {
				continue
			}
			m := member{u: u, ix: ix}
			m.scans, m.judged = u.window.scans[ix.OID]
			m.covered, m.dup = coveringIndex(ix, byTable[[2]string{ix.Schema, ix.Table}])
			if m.dup {
				covering[instOID{u.iw.inst.ID, m.covered.OID}] = true
			}
			k := dropKey{ix.Table, ix.Name, ix.Definition}
			groups[k] = append(groups[k], m)
		}
	}
	var out []controlplane.Recommendation
	for k, ms := range groups {
		ev := DropIndexEvidence{Table: k.Table, Index: k.Name, Definition: k.Definition, TenantsWithIndex: len(ms),
			IndexEntryWriteMS: IndexEntryWriteMS}
		for _, m := range ms {
			switch {
			case !m.judged:
				ev.NewTenants++
			case m.scans == 0:
				ev.UnusedTenants++
			}
		}
		mostlyUnused := ev.UnusedTenants*2 > ev.TenantsWithIndex
		r := controlplane.Recommendation{Kind: KindDropIndex, Key: k.key()}
		for _, m := range ms {
			unused := mostlyUnused && m.judged && m.scans == 0 && !covering[instOID{m.u.iw.inst.ID, m.ix.OID}]
			if !m.ix.candidate() || (!m.dup && !unused) {
				continue
			}
			te := a.dropEvidence(m.u, m.ix, m.scans)
			if m.dup {
				te.Reason, te.CoveredBy, te.CoveredByDefinition = DropDuplicate, m.covered.Name, m.covered.Definition
			}
			ev.Tenants = append(ev.Tenants, te)
			ev.StorageBytes += te.SizeBytes
			r.MonthlySavingUSD += te.SavingUSD
		}
		if len(ev.Tenants) == 0 {
			continue
		}
		sort.Slice(ev.Tenants, func(i, j int) bool { return ev.Tenants[i].TenantID < ev.Tenants[j].TenantID })
		for _, te := range ev.Tenants {
			r.Tenants = append(r.Tenants, te.TenantID)
		}
		stmt, err := migrate.DropIndexStatement(k.Name)
		if err != nil {
			return nil, fmt.Errorf("cost: drop index %s: %w", k.Name, err)
		}
		r.Statement = stmt
		if r.Evidence, err = json.Marshal(ev); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// dropEvidence is one tenant's unused index, with the money dropping it
// saves: its storage, and its share of the table's writes over the window
// scaled to a month.
func (a *Analyzer) dropEvidence(u *instanceUsage, ix tenantIndex, scans int64) DropTenantEvidence {
	t := u.bySchema[ix.Schema]
	tab := u.window.tables[[2]string{ix.Schema, ix.Table}]
	te := DropTenantEvidence{TenantID: t.ID, InstanceID: u.iw.inst.ID, Index: ix.Name, Reason: DropUnused, SizeBytes: ix.Bytes,
		IdxScan: scans, TableWrites: tab.Inserted + tab.Updated + tab.Deleted,
		IndexEntries: tab.Inserted + max(tab.Updated-tab.HOTUpdated, 0),
		Window:       u.window.Note, WindowStart: u.window.Start, WindowEnd: u.window.End}
	te.StorageUSD = a.cfg.Prices.storageMonthlyUSD(ix.Bytes)
	if span := u.window.span(); span > 0 {
		te.WriteUSD = u.iw.class.timeMonthlyUSD(float64(te.IndexEntries) * IndexEntryWriteMS * (HoursPerMonth * 3600 * 1000 / span))
	}
	te.SavingUSD = te.StorageUSD + te.WriteUSD
	return te
}
