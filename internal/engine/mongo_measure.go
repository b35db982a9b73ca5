package engine

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/coffer-backup/coffer/internal/connector/mongodb"
)

// A .bson entry's size must be known before its first byte (tar), so each
// collection is measured before it is copied. Measuring costs a full pass
// on servers that cannot sum document sizes (FerretDB), so the measurer
// measures the next collections while the current one is copied, up to
// Options.MongoParallel at once: a dump of many collections then takes
// about as long as the longer of measuring and copying, not their sum.
// Copying stays one collection at a time, in the archive's order.

// measurement is one collection's measuring pass, running or done.
type measurement struct {
	key     string
	counted atomic.Int64 // documents counted so far (progress)
	done    chan struct{}
	cancel  context.CancelFunc

	// Set before done is closed.
	docs, size int64
	upTo       bson.RawValue
	natural    bool
	server     string
	err        error
	// spool holds the documents measured (servers without $bsonSize),
	// nil when there is none; whoever takes the measurement drops it.
	spool *spool
}

// measurer runs the measuring passes of a MongoDB backup.
type measurer struct {
	b        *backupRun
	mc       *mongodb.Client
	ctx      context.Context
	parallel int
	running  map[string]*measurement
}

func newMeasurer(ctx context.Context, b *backupRun, mc *mongodb.Client) *measurer {
	return &measurer{b: b, mc: mc, ctx: ctx, parallel: max(1, b.e.opt.MongoParallel), running: map[string]*measurement{}}
}

// stop cancels every pass still running, waits for them and drops their
// spools.
func (m *measurer) stop() {
	for _, ms := range m.running {
		ms.cancel()
	}
	for _, ms := range m.running {
		<-ms.done
		ms.spool.drop()
	}
	m.running = map[string]*measurement{}
}

// start begins measuring db.coll (key) unless it is already measured or
// being measured.
func (m *measurer) start(db, coll, key string) *measurement {
	if ms, ok := m.running[key]; ok {
		return ms
	}
	ctx, cancel := context.WithCancel(m.ctx)
	ms := &measurement{key: key, done: make(chan struct{}), cancel: cancel}
	m.running[key] = ms
	var measuredBytes atomic.Int64
	progress := func(n, bytes int64) error {
		// Measuring reads the documents too (where the server cannot sum
		// their sizes): it keeps to the backup's bandwidth limit.
		if err := m.b.readLimit.wait(ctx, int(bytes-measuredBytes.Swap(bytes))); err != nil {
			return err
		}
		ms.counted.Store(n)
		return nil
	}
	go func() {
		defer close(ms.done)
		caps, err := m.mc.Caps(ctx, db)
		if err != nil {
			ms.err = fmt.Errorf("before reading %s.%s: %w", db, coll, err)
			return
		}
		ms.natural, ms.server = !caps.IDOrder, caps.Server
		if caps.IDOrder {
			ms.docs, ms.size, ms.upTo, ms.err = m.mc.Measure(ctx, db, coll, progress)
			return
		}
		sp := m.newSpool()
		// Each document counts in the progress as it arrives: the server
		// sends them in batches, and the count should move with each one,
		// not only after every MeasureEvery documents and their share of
		// the bandwidth limit.
		each := func(doc bson.Raw) error {
			ms.counted.Add(1)
			if sp == nil {
				return nil
			}
			if err := sp.add(doc); err != nil {
				// Full, or the disk failed: copy from the server instead.
				sp.drop()
				sp = nil
			}
			return nil
		}
		ms.docs, ms.size, ms.err = m.mc.MeasureNaturalEach(ctx, db, coll, progress, each)
		if sp != nil && (ms.err != nil || sp.finish() != nil) {
			sp.drop()
			sp = nil
		}
		ms.spool = sp
	}()
	return ms
}

// newSpool starts a spool for a measuring pass, or answers nil when
// spooling is off or the file cannot be made (the copy then reads the
// server).
func (m *measurer) newSpool() *spool {
	if m.b.e.opt.MongoSpoolLimit <= 0 {
		return nil
	}
	sweepSpools(m.b.e.opt.SpoolDir, m.b.e.log)
	sp, err := newSpool(m.b.e.opt.SpoolDir, m.b.e.opt.MongoSpoolLimit)
	if err != nil {
		m.b.e.log.Warn("spool a collection while measuring it; it is read from the server again instead", "err", err)
		return nil
	}
	return sp
}

// ahead starts measuring the next collections of next (in archive order)
// while fewer than the setting's measurements are running or waiting to be
// copied (a finished one may hold a spool: this also bounds the disk used).
func (m *measurer) ahead(next []collRef) {
	for _, r := range next {
		if len(m.running) >= m.parallel {
			return
		}
		if r.coll.Type != "view" {
			m.start(r.db, r.coll.Name, r.key)
		}
	}
}

// forget drops key's pass (cancelling it if it runs): after its collection
// changed under the copy, it is measured afresh.
func (m *measurer) forget(key string) {
	if ms, ok := m.running[key]; ok {
		ms.cancel()
		<-ms.done
		ms.spool.drop()
		delete(m.running, key)
	}
}

// wait returns db.coll's measurement, starting the pass when none runs. While
// it waits it shows the documents counted so far in the progress, saves
// progress as the run does, and stops at a pause, a cancel or shutdown.
func (m *measurer) wait(ctx context.Context, db, coll, key string) (*measurement, error) {
	ms := m.start(db, coll, key)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		m.b.prog.PhaseItems = ms.counted.Load()
		if reason := m.b.r.stopReason(); reason != nil {
			return nil, m.b.stopAtBoundary(reason)
		}
		select {
		case <-ms.done:
			delete(m.running, key)
			m.b.prog.PhaseItems = ms.counted.Load()
			switch {
			case ms.err != nil && m.b.r.stopReason() != nil:
				ms.spool.drop()
				return nil, m.b.stopAtBoundary(m.b.r.stopReason())
			case errors.Is(ms.err, context.Canceled) && ctx.Err() != nil:
				return nil, ctx.Err()
			case ms.err != nil:
				ms.spool.drop()
				return nil, fmt.Errorf("measure %s.%s: %w", db, coll, ms.err)
			}
			return ms, nil
		case <-tick.C:
			if err := m.b.afterEntry(ctx, nil); err != nil {
				return nil, err
			}
		}
	}
}
