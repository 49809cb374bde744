package cli

import (
	"fmt"
	"html"
	"strconv"
	"strings"

	"github.com/charmbracelet/x/ansi"
)

// The README's pictures are the console's own frames, styled as a terminal
// draws them, written as SVG: svgScreen turns the text with its SGR colour
// sequences into cells of a fixed grid.

const (
	svgCellW   = 8.4 // a cell of a 14 px monospace font
	svgCellH   = 18.0
	svgPad     = 16.0
	svgTitleH  = 30.0
	svgBg      = "#16151D" // the terminal's background and default text
	svgFg      = "#E4E4E7"
	svgChrome  = "#24232E"
	svgFontCSS = "'DejaVu Sans Mono','JetBrains Mono',Menlo,Consolas,monospace"
)

// cellStyle is the SGR state a run of text is drawn with.
type cellStyle struct {
	fg, bg          string // "#rrggbb", or "" for the default
	bold, underline bool
	faint           bool
}

// svgRun is text of one style starting at a column.
type svgRun struct {
	col, cells int
	text       string
	st         cellStyle
}

// svgScreen draws a styled screen of width×height cells as an SVG image
// with a window frame and a title.
func svgScreen(screen, title string, width, height int) string {
	w := svgPad*2 + float64(width)*svgCellW
	h := svgTitleH + svgPad*2 + float64(height)*svgCellH
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" rx="10" fill="%s"/>`+"\n", svgBg)
	fmt.Fprintf(&b, `<path d="M0 10a10 10 0 0 1 10-10h%.0fa10 10 0 0 1 10 10v%.0fh-%.0fz" fill="%s"/>`+"\n", w-20, svgTitleH-10, w, svgChrome)
	for i, c := range []string{"#FF5F57", "#FEBC2E", "#28C840"} {
		fmt.Fprintf(&b, `<circle cx="%d" cy="15" r="6" fill="%s"/>`+"\n", 20+i*20, c)
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="20" fill="#8E8E93" font-family="%s" font-size="12" text-anchor="middle">%s</text>`+"\n",
		w/2, html.EscapeString(svgFontCSS), html.EscapeString(title))
	fmt.Fprintf(&b, `<g font-family="%s" font-size="14" xml:space="preserve">`+"\n", html.EscapeString(svgFontCSS))
	for row, line := range strings.Split(strings.TrimSuffix(screen, "\n"), "\n") {
		if row >= height {
			break
		}
		y := svgTitleH + svgPad + float64(row)*svgCellH
		runs := svgRuns(line)
		for _, r := range runs {
			if r.st.bg != "" {
				fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.0f" fill="%s"/>`+"\n",
					svgPad+float64(r.col)*svgCellW, y, float64(r.cells)*svgCellW, svgCellH, r.st.bg)
			}
		}
		for _, r := range runs {
			if strings.TrimSpace(r.text) == "" && !r.st.underline {
				continue
			}
			fg := r.st.fg
			if fg == "" {
				fg = svgFg
			}
			attrs := fmt.Sprintf(` fill="%s"`, fg)
			if r.st.bold {
				attrs += ` font-weight="bold"`
			}
			if r.st.underline {
				attrs += ` text-decoration="underline"`
			}
			if r.st.faint {
				attrs += ` opacity="0.6"`
			}
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" textLength="%.1f" lengthAdjust="spacingAndGlyphs"%s>%s</text>`+"\n",
				svgPad+float64(r.col)*svgCellW, y+svgCellH*0.75, float64(r.cells)*svgCellW, attrs, html.EscapeString(r.text))
		}
	}
	b.WriteString("</g>\n</svg>\n")
	return b.String()
}

// svgRuns splits one line into runs of one style, following its SGR
// sequences; other escape sequences are dropped.
func svgRuns(line string) []svgRun {
	var runs []svgRun
	var st cellStyle
	var cur strings.Builder
	col, start := 0, 0
	flush := func() {
		if cur.Len() > 0 {
			runs = append(runs, svgRun{col: start, cells: col - start, text: cur.String(), st: st})
			cur.Reset()
		}
		start = col
	}
	for i := 0; i < len(line); {
		if line[i] == 0x1b && i+1 < len(line) && line[i+1] == '[' {
			j := i + 2
			for j < len(line) && (line[j] < 0x40 || line[j] > 0x7e) {
				j++
			}
			if j < len(line) && line[j] == 'm' {
				flush()
				st = applySGR(st, line[i+2:j])
			}
			i = j + 1
			continue
		}
		if line[i] == 0x1b { // OSC and the like: skip to its terminator
			j := strings.IndexAny(line[i+1:], "\x07\x1b\\")
			if j < 0 {
				break
			}
			i += j + 2
			continue
		}
		r, size := decodeRune(line[i:])
		cur.WriteString(line[i : i+size])
		col += ansi.StringWidth(string(r))
		i += size
	}
	flush()
	return runs
}

func decodeRune(s string) (rune, int) {
	for i, r := range s {
		if i == 0 {
			return r, len(string(r))
		}
	}
	return 0, 1
}

// applySGR updates a style with the parameters of one SGR sequence.
func applySGR(st cellStyle, params string) cellStyle {
	if params == "" {
		return cellStyle{}
	}
	ps := strings.Split(params, ";")
	num := func(i int) int {
		if i >= len(ps) {
			return 0
		}
		n, _ := strconv.Atoi(strings.SplitN(ps[i], ":", 2)[0])
		return n
	}
	for i := 0; i < len(ps); i++ {
		switch n := num(i); {
		case n == 0:
			st = cellStyle{}
		case n == 1:
			st.bold = true
		case n == 2:
			st.faint = true
		case n == 4:
			st.underline = true
		case n == 22:
			st.bold, st.faint = false, false
		case n == 24:
			st.underline = false
		case n == 39:
			st.fg = ""
		case n == 49:
			st.bg = ""
		case (n == 38 || n == 48) && num(i+1) == 2:
			c := fmt.Sprintf("#%02X%02X%02X", num(i+2), num(i+3), num(i+4))
			if n == 38 {
				st.fg = c
			} else {
				st.bg = c
			}
			i += 4
		case (n == 38 || n == 48) && num(i+1) == 5:
			i += 2 // 256-colour: not produced by the console's palette
		}
	}
	return st
}
