/*
Copyright The EasyService Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

	http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package main

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// A panel of grouped bars: one group per target, one bar per series (the median, with a min–max
// whisker).
type panel struct {
	title   string
	targets []string
	series  []series
}

type series struct {
	name   string
	target func(string) (med, lo, hi float64, ok bool)
}

var (
	white   = color.RGBA{255, 255, 255, 255}
	black   = color.RGBA{0, 0, 0, 255}
	grey    = color.RGBA{200, 200, 200, 255}
	palette = []color.RGBA{{31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255}}
)

var shortNames = map[string]string{
	targetAgg: "aggregated", targetDirect: "direct", targetCRD: "CRD", targetCM: "ConfigMap", targetEtcd: "etcd put",
	targetSampleAgg: "sample agg.",
}

// chart draws the figures as bar charts into a PNG.
func (r *results) chart() ([]byte, error) {
	api := []string{targetAgg, targetDirect, targetCRD, targetCM}
	withEtcd := append(api[:len(api):len(api)], targetEtcd)
	// The peer, through the aggregation layer, beside the creates.
	withPeer := append(api[:len(api):len(api)], targetSampleAgg)
	metric := func(m string) func(string) (float64, float64, float64, bool) {
		return func(t string) (float64, float64, float64, bool) { return r.stat(t, m) }
	}
	firstRound := func(m string) func(string) (float64, float64, float64, bool) {
		return func(t string) (float64, float64, float64, bool) { return r.first(t, m) }
	}
	c := r.Config
	etcdTput := "-"
	if med, _, _, ok := r.stat(targetEtcd, mThroughput); ok {
		etcdTput = num(med)
	}
	panels := []panel{
		{"create latency, 1 client (ms)", append(withEtcd, targetSampleAgg), []series{{"p50", metric(mCreateP50)}, {"p99", metric(mCreateP99)}}},
		{fmt.Sprintf("create throughput, %d clients (objects/s; etcd put floor: %s/s)", c.Clients, etcdTput), withPeer, []series{{"median", metric(mThroughput)}}},
		{"GET latency, 1 client (ms)", api, []series{{"p50", metric(mGetP50)}, {"p99", metric(mGetP99)}}},
		{"watch event latency, write to event (ms)", api, []series{{"p50", metric(mWatchP50)}, {"p99", metric(mWatchP99)}}},
		{fmt.Sprintf("LIST %d objects (ms)", c.ListN), api, []series{
			{"no limit, JSON", metric(mList)}, {fmt.Sprintf("limit=%d, JSON", c.PageSize), metric(mListPaged)}, {"no limit, protobuf first", metric(mListProto)}}},
		{fmt.Sprintf("RSS growth for %d objects, round 1 (MiB)", c.ListN), api, []series{
			{"easyservice-apiserver", firstRound(mRSSES)}, {"kube-apiserver", firstRound(mRSSKAS)}}},
	}
	const cols, pw, ph = 2, 600, 320
	rows := (len(panels) + cols - 1) / cols
	img := image.NewRGBA(image.Rect(0, 0, cols*pw, rows*ph+30))
	draw.Draw(img, img.Bounds(), &image.Uniform{white}, image.Point{}, draw.Src)
	text(img, 10, 18, fmt.Sprintf("EasyService benchmark, %s: median of %d rounds, whiskers min-max", r.Time, c.Rounds), black)
	for i, p := range panels {
		p.draw(img, image.Rect((i%cols)*pw, 30+(i/cols)*ph, (i%cols+1)*pw, 30+(i/cols+1)*ph))
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (p panel) draw(img *image.RGBA, area image.Rectangle) {
	const left, right, top, bottom = 60, 15, 44, 40
	plot := image.Rect(area.Min.X+left, area.Min.Y+top, area.Max.X-right, area.Max.Y-bottom)
	text(img, area.Min.X+10, area.Min.Y+16, p.title, black)
	// Legend.
	x := area.Min.X + 10
	for i, s := range p.series {
		fill(img, image.Rect(x, area.Min.Y+24, x+10, area.Min.Y+34), palette[i%len(palette)])
		text(img, x+14, area.Min.Y+34, s.name, black)
		x += 14 + 7*len(s.name) + 16
	}
	yTop := 0.0
	for _, t := range p.targets {
		for _, s := range p.series {
			if _, _, hi, ok := s.target(t); ok {
				yTop = math.Max(yTop, hi)
			}
		}
	}
	yTop = niceCeil(yTop * 1.12)
	// Axis and grid.
	for i := 0; i <= 4; i++ {
		v := yTop * float64(i) / 4
		y := plot.Max.Y - int(float64(plot.Dy())*float64(i)/4)
		hline(img, plot.Min.X, plot.Max.X, y, grey)
		label := num(v)
		text(img, plot.Min.X-6-7*len(label), y+4, label, black)
	}
	vline(img, plot.Min.X, plot.Min.Y, plot.Max.Y, black)
	hline(img, plot.Min.X, plot.Max.X, plot.Max.Y, black)
	group := plot.Dx() / len(p.targets)
	bw := min((group-16)/len(p.series), 60)
	for gi, t := range p.targets {
		gx := plot.Min.X + gi*group + (group-bw*len(p.series))/2
		name := shortNames[t]
		text(img, plot.Min.X+gi*group+(group-7*len(name))/2, plot.Max.Y+16, name, black)
		for si, s := range p.series {
			med, lo, hi, ok := s.target(t)
			if !ok || yTop == 0 {
				continue
			}
			// Negative figures (memory that shrank) draw as nothing, clamped to the axis.
			y := func(v float64) int { return plot.Max.Y - int(float64(plot.Dy())*max(v, 0)/yTop) }
			bx := gx + si*bw
			fill(img, image.Rect(bx+1, y(med), bx+bw-1, plot.Max.Y), palette[si%len(palette)])
			cx := bx + bw/2
			vline(img, cx, y(hi), y(lo), black)
			hline(img, cx-3, cx+4, y(hi), black)
			hline(img, cx-3, cx+4, y(lo), black)
			if bw >= 28 {
				label := num(med)
				text(img, cx-7*len(label)/2, min(y(hi), y(med))-3, label, black)
			}
		}
	}
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func fill(img *image.RGBA, r image.Rectangle, c color.Color) {
	draw.Draw(img, r.Canon(), &image.Uniform{c}, image.Point{}, draw.Src)
}

func hline(img *image.RGBA, x0, x1, y int, c color.Color) {
	for x := x0; x < x1; x++ {
		img.Set(x, y, c)
	}
}

func vline(img *image.RGBA, x, y0, y1 int, c color.Color) {
	if y0 > y1 {
		y0, y1 = y1, y0
	}
	for y := y0; y <= y1; y++ {
		img.Set(x, y, c)
	}
}

func text(img *image.RGBA, x, y int, s string, c color.Color) {
	d := font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}
