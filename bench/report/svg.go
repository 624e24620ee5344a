package report

import (
	"fmt"
	"image/color"
	"io"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// palette is the lines' colours, one per Series.Name in a chart, in order.
var palette = []color.Color{
	color.RGBA{0x1f, 0x77, 0xb4, 0xff}, color.RGBA{0xd6, 0x27, 0x28, 0xff}, color.RGBA{0x2c, 0xa0, 0x2c, 0xff},
	color.RGBA{0xff, 0x7f, 0x0e, 0xff}, color.RGBA{0x94, 0x67, 0xbd, 0xff}, color.RGBA{0x8c, 0x56, 0x4b, 0xff},
	color.RGBA{0xe3, 0x77, 0xc2, 0xff}, color.RGBA{0x7f, 0x7f, 0x7f, 0xff},
}

// WriteSVG draws c as an SVG: one line with points per series, labelled by
// Series.Name in the legend, the axes labelled, X logarithmic when LogX.
// A series whose X and Y differ in length, or a LogX chart with an X ≤ 0,
// is an error naming the chart and the series.
func WriteSVG(w io.Writer, c Chart) (err error) {
	// gonum/plot panics on a few degenerate inputs (a logarithmic axis
	// over a range it cannot draw): an error for this chart, not a crash.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("chart %s: cannot draw: %v", c.Name, r)
		}
	}()
	points := 0
	for _, s := range c.Series {
		points += len(s.X)
	}
	p := plot.New()
	p.Title.Text = c.Title
	if p.Title.Text == "" {
		p.Title.Text = c.Name
	}
	p.X.Label.Text, p.Y.Label.Text = c.XLabel, c.YLabel
	if c.LogX && points > 0 {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	for i, s := range c.Series {
		if len(s.X) != len(s.Y) {
			return fmt.Errorf("chart %s, series %q: %d X values but %d Y values", c.Name, s.Name, len(s.X), len(s.Y))
		}
		if len(s.X) == 0 {
			continue
		}
		xy := make(plotter.XYs, len(s.X))
		for j := range s.X {
			if c.LogX && s.X[j] <= 0 {
				return fmt.Errorf("chart %s, series %q: X %v on a logarithmic axis: want > 0", c.Name, s.Name, s.X[j])
			}
			xy[j].X, xy[j].Y = s.X[j], s.Y[j]
		}
		l, pts, err := plotter.NewLinePoints(xy)
		if err != nil {
			return fmt.Errorf("chart %s, series %q: %w", c.Name, s.Name, err)
		}
		col := palette[i%len(palette)]
		l.Color, pts.Color = col, col
		l.Width = vg.Points(1.5)
		pts.Shape = draw.CircleGlyph{}
		p.Add(l, pts)
		p.Legend.Add(s.Name, l, pts)
	}
	canvas := vgsvg.New(6*vg.Inch, 4*vg.Inch)
	p.Draw(draw.New(canvas))
	_, err = canvas.WriteTo(w)
	return err
}
