package metrics

import (
	"bufio"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

// ContentType is the media type of the Prometheus text exposition format
// that Handler writes.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Label is one name="value" pair of a sample.
type Label struct {
	Name, Value string
}

// encoder writes the Prometheus text exposition format (version 0.0.4):
// a # HELP and a # TYPE line per family, then its samples.
type encoder struct {
	w   *bufio.Writer
	err error
}

func newEncoder(w io.Writer) *encoder { return &encoder{w: bufio.NewWriter(w)} }

func (e *encoder) write(s string) {
	if e.err == nil {
		_, e.err = e.w.WriteString(s)
	}
}

// family starts a metric family.
func (e *encoder) family(name, typ, help string) {
	e.write("# HELP " + name + " " + escapeHelp(help) + "\n")
	e.write("# TYPE " + name + " " + typ + "\n")
}

// sample writes one sample line.
func (e *encoder) sample(name string, labels []Label, v float64) {
	var b strings.Builder
	b.WriteString(name)
	if len(labels) > 0 {
		b.WriteByte('{')
		for i, l := range labels {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(l.Name)
			b.WriteString(`="`)
			b.WriteString(escapeLabel(l.Value))
			b.WriteByte('"')
		}
		b.WriteByte('}')
	}
	b.WriteByte(' ')
	b.WriteString(formatFloat(v))
	b.WriteByte('\n')
	e.write(b.String())
}

// histogram writes the _bucket, _sum and _count samples of one labelled
// histogram; counts[i] is the number of observations <= bounds[i] (already
// cumulative) and count is the total (the +Inf bucket).
func (e *encoder) histogram(name string, labels []Label, bounds []float64, counts []uint64, sum float64, count uint64) {
	withLE := make([]Label, len(labels)+1)
	copy(withLE, labels)
	for i, b := range bounds {
		withLE[len(labels)] = Label{"le", formatFloat(b)}
		e.sample(name+"_bucket", withLE, float64(counts[i]))
	}
	withLE[len(labels)] = Label{"le", "+Inf"}
	e.sample(name+"_bucket", withLE, float64(count))
	e.sample(name+"_sum", labels, sum)
	e.sample(name+"_count", labels, float64(count))
}

func (e *encoder) flush() error {
	if e.err != nil {
		return e.err
	}
	return e.w.Flush()
}

// formatFloat writes a sample value the way Prometheus parses it.
func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// escapeHelp escapes a HELP text: backslash and line feed.
func escapeHelp(s string) string { return escape(s, false) }

// escapeLabel escapes a label value: backslash, line feed and double quote.
func escapeLabel(s string) string { return escape(s, true) }

func escape(s string, quote bool) string {
	if !strings.ContainsAny(s, "\\\n\"") {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '"' && quote:
			b.WriteString(`\"`)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// sortedKeys returns the keys of m in order, so the output is stable.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
