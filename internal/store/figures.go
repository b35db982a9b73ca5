package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// This file answers the questions /metrics asks of the catalog. Each query
// reads integer columns and indexes only (migration 0004): no JSON is
// parsed at scrape time, whatever the number of operations.

// ByteTotals are the bytes read and written by all operations of one kind.
type ByteTotals struct {
	Read, Written int64
}

// Histogram is a duration histogram: Counts[i] is how many durations are
// at most the i-th bound (cumulative), Sum their total in seconds.
type Histogram struct {
	Counts []uint64
	Sum    float64
	Count  uint64
}

// OperationBytes returns, per operation kind (every kind of kindTables), the bytes
// read and written by every operation in the catalog, as their progress
// last recorded them.
func (s *Store) OperationBytes(ctx context.Context) (map[string]ByteTotals, error) {
	out := map[string]ByteTotals{}
	for kind, t := range kindTables {
		var b ByteTotals
		if err := s.queryRow(ctx, s.db, "SELECT CAST(COALESCE(SUM(bytes_read), 0) AS BIGINT), CAST(COALESCE(SUM(bytes_written), 0) AS BIGINT) FROM "+t.table).
			Scan(&b.Read, &b.Written); err != nil {
			return nil, fmt.Errorf("sum the bytes of %s: %w", t.table, err)
		}
		out[kind] = b
	}
	return out, nil
}

// OperationDurations returns, per kind and per status in statuses, the
// histogram of run times (completed_at - started_at, in seconds) of the
// operations in that status that have both times, over the given bucket
// bounds (ascending). A kind or status without operations has no entry.
func (s *Store) OperationDurations(ctx context.Context, statuses []string, bounds []float64) (map[string]map[string]Histogram, error) {
	d := "(CAST(completed_at - started_at AS REAL) / 1000000.0)" // SQLite keeps Unix microseconds
	if s.dialect == DialectPostgres {
		d = "CAST(EXTRACT(EPOCH FROM (completed_at - started_at)) AS DOUBLE PRECISION)"
	}
	var cols strings.Builder
	for _, b := range bounds {
		fmt.Fprintf(&cols, ", SUM(CASE WHEN d <= %s THEN 1 ELSE 0 END)", strconv.FormatFloat(b, 'f', -1, 64))
	}
	in, args := inArgs(statuses)
	out := map[string]map[string]Histogram{}
	for kind, t := range kindTables {
		q := fmt.Sprintf("SELECT status, COUNT(*), COALESCE(SUM(d), 0)%s FROM (SELECT status, %s AS d FROM %s "+
			"WHERE status IN (%s) AND started_at IS NOT NULL AND completed_at IS NOT NULL) x GROUP BY status",
			cols.String(), d, t.table, in)
		byStatus, err := s.histograms(ctx, q, args, len(bounds))
		if err != nil {
			return nil, fmt.Errorf("durations of %s: %w", t.table, err)
		}
		out[kind] = byStatus
	}
	return out, nil
}

// histograms runs a query of OperationDurations and scans its rows.
func (s *Store) histograms(ctx context.Context, q string, args []any, nbounds int) (map[string]Histogram, error) {
	rows, err := s.query(ctx, s.db, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]Histogram{}
	for rows.Next() {
		var status string
		var count int64
		var sum float64
		buckets := make([]int64, nbounds)
		dest := []any{&status, &count, &sum}
		for i := range buckets {
			dest = append(dest, &buckets[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		h := Histogram{Counts: make([]uint64, nbounds), Sum: sum, Count: uint64(count)}
		for i, c := range buckets {
			h.Counts[i] = uint64(c)
		}
		out[status] = h
	}
	return out, rows.Err()
}

// CountQueueJobsByState returns how many jobs of the job queue (River's
// river_job table, which Migrate creates) are in each state that has any.
func (s *Store) CountQueueJobsByState(ctx context.Context) (map[string]int64, error) {
	q := "SELECT state, COUNT(*) FROM river_job GROUP BY state"
	if s.dialect == DialectPostgres {
		q = "SELECT state::text, COUNT(*) FROM river_job GROUP BY state"
	}
	rows, err := s.query(ctx, s.db, q)
	if err != nil {
		return nil, fmt.Errorf("count queue jobs (river_job) by state: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var state string
		var n int64
		if err := rows.Scan(&state, &n); err != nil {
			return nil, fmt.Errorf("count queue jobs (river_job) by state: %w", err)
		}
		out[state] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count queue jobs (river_job) by state: %w", err)
	}
	return out, nil
}

// PlanFigures are a plan's figures for the metrics.
type PlanFigures struct {
	// Runs counts the plan's finished backups by status (completed, failed, cancelled).
	Runs map[string]int64
	// LastSuccess is when its newest completed backup completed (nil: none).
	LastSuccess *time.Time
}

// PlanFigures returns the figures of every plan by name, and how many
// backups have been pruned, from the plan and pruned indexes.
func (s *Store) PlanFigures(ctx context.Context) (map[string]*PlanFigures, int64, error) {
	out := map[string]*PlanFigures{}
	plans, err := s.ListPlans(ctx)
	if err != nil {
		return nil, 0, err
	}
	byID := map[int64]*PlanFigures{}
	for _, p := range plans {
		f := &PlanFigures{Runs: map[string]int64{}}
		out[p.Name], byID[p.ID] = f, f
	}
	in, args := inArgs(terminalStatuses)
	rows, err := s.query(ctx, s.db, "SELECT plan_id, status, COUNT(*), MAX(completed_at) FROM backup_operations WHERE plan_id IS NOT NULL AND status IN ("+in+") GROUP BY plan_id, status", args...)
	if err != nil {
		return nil, 0, fmt.Errorf("plan figures: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, n int64
		var status string
		var last *time.Time
		if err := rows.Scan(&id, &status, &n, nullTimeCol{&last}); err != nil {
			return nil, 0, fmt.Errorf("plan figures: %w", err)
		}
		f := byID[id]
		if f == nil {
			continue // a plan created after the list was read
		}
		f.Runs[status] = n
		if status == StatusCompleted {
			f.LastSuccess = last
		}
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("plan figures: %w", err)
	}
	var pruned int64
	if err := s.queryRow(ctx, s.db, "SELECT COUNT(*) FROM backup_operations WHERE pruned_at IS NOT NULL").Scan(&pruned); err != nil {
		return nil, 0, fmt.Errorf("count pruned backups: %w", err)
	}
	return out, pruned, nil
}
