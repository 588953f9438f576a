package report

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
	"time"
)

// Chart geometry, in SVG user units.
const (
	chartW      = 720
	chartH      = 260
	chartLeft   = 64
	chartRight  = 20
	chartTop    = 36
	chartBottom = 40
)

// palette colours the series of a chart in order; each has enough
// contrast on white for people with the common colour deficiencies to
// tell lines apart by the legend's order too.
var palette = []string{"#1f5fbf", "#c2410c", "#15803d", "#7e22ce", "#0f766e"}

// SVG draws the chart as a standalone <svg> element: value axis with five
// ticks from 0, the time span along the bottom (UTC), one line per series
// with a legend, and a dashed mark at the report's moment when it falls
// inside the span. Nothing in it loads anything else.
func (c Chart) SVG(mark time.Time) string {
	var b strings.Builder
	id := "chart-" + slug(c.Title)
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-labelledby="%s">`,
		chartW, chartH, chartW, chartH, id)
	fmt.Fprintf(&b, `<title id="%s">%s</title>`, id, esc(c.Title))
	fmt.Fprintf(&b, `<text x="%d" y="20" font-size="14" font-weight="600" fill="#111">%s</text>`, chartLeft, esc(c.Title))

	t0, t1, vmax, n := c.bounds()
	if n == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="13" fill="#555">no measurements yet</text></svg>`, chartLeft, chartH/2)
		return b.String()
	}
	if !t1.After(t0) {
		// One moment only: centre it in an hour's span.
		t0, t1 = t0.Add(-30*time.Minute), t1.Add(30*time.Minute)
	}
	bottom, top := 0.0, niceCeil(vmax)
	if c.Tight {
		bottom, top = tightRange(c.min(), vmax)
	}
	plotW, plotH := float64(chartW-chartLeft-chartRight), float64(chartH-chartTop-chartBottom)
	x := func(t time.Time) float64 {
		return float64(chartLeft) + plotW*float64(t.Sub(t0))/float64(t1.Sub(t0))
	}
	y := func(v float64) float64 { return float64(chartTop) + plotH*(1-(v-bottom)/(top-bottom)) }

	// Value axis and grid.
	for i := 0; i <= 4; i++ {
		v := bottom + (top-bottom)*float64(i)/4
		yy := y(v)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e5e7eb"/>`, chartLeft, yy, chartW-chartRight, yy)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" font-size="11" fill="#444" text-anchor="end">%s</text>`, chartLeft-6, yy+4, esc(FormatNumber(v)))
	}
	// Time axis: five labels across the span.
	layout := "Jan 2 15:04"
	if t1.Sub(t0) > 6*24*time.Hour {
		layout = "Jan 2"
	}
	base := float64(chartH - chartBottom)
	fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#9ca3af"/>`, chartLeft, base, chartW-chartRight, base)
	for i := 0; i <= 4; i++ {
		t := t0.Add(time.Duration(float64(t1.Sub(t0)) * float64(i) / 4))
		anchor := "middle"
		switch i {
		case 0:
			anchor = "start"
		case 4:
			anchor = "end"
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="11" fill="#444" text-anchor="%s">%s</text>`, x(t), base+16, anchor, esc(t.UTC().Format(layout)))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="10" fill="#6b7280" text-anchor="end">UTC</text>`, chartW-chartRight, chartH-6)

	if !mark.IsZero() && !mark.Before(t0) && !mark.After(t1) {
		mx := x(mark)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%.1f" stroke="#6b7280" stroke-dasharray="4 3"/>`, mx, chartTop, mx, base)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="10" fill="#6b7280" text-anchor="middle">report</text>`, mx, chartTop-4)
	}

	lx := float64(chartW - chartRight)
	for i := len(c.Series) - 1; i >= 0; i-- {
		s := c.Series[i]
		colour := palette[i%len(palette)]
		// Legend, right-aligned in the title row, last series rightmost.
		w := 14 + 7*float64(len([]rune(s.Name)))
		lx -= w + 12
		fmt.Fprintf(&b, `<rect x="%.1f" y="11" width="10" height="10" fill="%s"/>`, lx, colour)
		fmt.Fprintf(&b, `<text x="%.1f" y="20" font-size="12" fill="#111">%s</text>`, lx+14, esc(s.Name))
		if len(s.Points) == 0 {
			continue
		}
		if len(s.Points) == 1 {
			p := s.Points[0]
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`, x(p.At), y(p.Value), colour)
			continue
		}
		pts := make([]string, len(s.Points))
		for j, p := range s.Points {
			pts[j] = fmt.Sprintf("%.1f,%.1f", x(p.At), y(p.Value))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" stroke-linejoin="round" points="%s"/>`, colour, strings.Join(pts, " "))
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// bounds is the time span and the largest value over every series, and
// how many points there are.
func (c Chart) bounds() (t0, t1 time.Time, vmax float64, n int) {
	for _, s := range c.Series {
		for _, p := range s.Points {
			if n == 0 || p.At.Before(t0) {
				t0 = p.At
			}
			if n == 0 || p.At.After(t1) {
				t1 = p.At
			}
			vmax = math.Max(vmax, p.Value)
			n++
		}
	}
	return t0, t1, vmax, n
}

// min is the smallest value over every series.
func (c Chart) min() float64 {
	m := math.Inf(1)
	for _, s := range c.Series {
		for _, p := range s.Points {
			m = math.Min(m, p.Value)
		}
	}
	return m
}

// tightRange is a value axis of four round steps that holds lo to hi.
func tightRange(lo, hi float64) (float64, float64) {
	step := niceCeil(math.Max((hi-lo)/4, 1))
	bottom := math.Floor(lo/step) * step
	for bottom+4*step < hi {
		step = niceCeil(step * 1.01)
		bottom = math.Floor(lo/step) * step
	}
	return bottom, bottom + 4*step
}

// niceCeil rounds v up to 1, 2, 2.5 or 5 times a power of ten, so that
// the axis's quarter ticks read as round numbers.
func niceCeil(v float64) float64 {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= v*(1-1e-12) {
			return m * p
		}
	}
	return 10 * p
}

// FormatNumber writes a KPI value briefly: whole numbers with thousands
// separators, "12.5k" and "3.4M" past ten thousand, and up to three
// significant digits for fractions.
func FormatNumber(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e6:
		return trimZeros(strconv.FormatFloat(v/1e6, 'f', 1, 64)) + "M"
	case a >= 10000:
		return trimZeros(strconv.FormatFloat(v/1e3, 'f', 1, 64)) + "k"
	case v == math.Trunc(v):
		return thousands(int64(v))
	case a >= 1:
		return trimZeros(strconv.FormatFloat(v, 'f', 2, 64))
	default:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
}

func trimZeros(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// thousands writes n with commas between groups of three digits.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func esc(s string) string { return html.EscapeString(s) }

func slug(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else if b.Len() > 0 && !strings.HasSuffix(b.String(), "-") {
			b.WriteByte('-')
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}
