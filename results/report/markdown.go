package report

import (
	"bytes"
	"fmt"
	"strings"
)

// renderMarkdown writes report.md: the verdict table, the static charts by relative link, the
// definitions, and a line per run with its record folder. It links report.html beside it for
// the interactive version.
func renderMarkdown(v view, charts []chartOut) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# %s\n\n", mdText(v.Title))
	for _, n := range v.Notes {
		fmt.Fprintf(&b, "%s\n\n", mdText(n))
	}
	fmt.Fprintf(&b, "Interactive charts: [%s](%s) (one self-contained file, opens offline).\n\n", HTMLFile, HTMLFile)

	b.WriteString("## Verdicts\n\n")
	for _, r := range v.Runs {
		fmt.Fprintf(&b, "- **%s**: %s\n", mdText(r.Label), mdText(r.Headline))
	}
	b.WriteString("\n")
	if v.Matrix != nil {
		writeMDMatrix(&b, v.Matrix)
		b.WriteString("\n## Details\n\n")
	}
	writeMDTable(&b, v)

	if len(charts) > 0 {
		b.WriteString("\n## Charts\n\n")
		b.WriteString("Every chart shares one time axis, " + v.XLabel + "; each run has its own colour (")
		for i, r := range v.Runs {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%s %s", mdText(r.Label), colorName(r.Color))
		}
		b.WriteString("). Vertical dashed lines mark each run's collapse onset and the end of the load.\n")
		for _, c := range charts {
			fmt.Fprintf(&b, "\n### %s\n\n%s\n\n![%s](%s)\n", c.title, c.caption, c.title, c.file)
		}
	}

	b.WriteString("\n## Definitions\n\n")
	for _, d := range v.Definitions {
		fmt.Fprintf(&b, "- **%s**: %s\n", d.Term, mdText(d.Text))
	}

	b.WriteString("\n## Runs\n\n")
	for _, r := range v.Runs {
		fmt.Fprintf(&b, "- **%s**: %s", mdText(r.Label), runLine(r))
		fmt.Fprintf(&b, "; record %s\n", mdRecordLink(r.Record))
	}
	for _, r := range v.Runs {
		fmt.Fprintf(&b, "\n<details><summary>Effective config of %s</summary>\n\n", mdText(r.Label))
		if r.Config.Missing != "" {
			fmt.Fprintf(&b, "Not shown: %s.\n\n", mdText(r.Config.Missing))
		}
		writeKVTable(&b, "server", r.Config.Server)
		writeKVTable(&b, "load profile", r.Config.Profile)
		b.WriteString("</details>\n")
	}
	return b.Bytes()
}

// runLine describes a run in one line: profile, start, verdict.
func runLine(r runView) string {
	parts := []string{"topology " + orDash(r.Topology)}
	if r.Runtime != "" {
		parts = append(parts, "runtime "+r.Runtime)
	}
	parts = append(parts, "profile "+orDash(r.Profile))
	if r.StartedAt != "" {
		parts = append(parts, "started "+r.StartedAt)
	}
	parts = append(parts, "verdict "+r.Cells.Verdict)
	if r.Interrupted != "" {
		parts = append(parts, "interrupted: "+r.Interrupted)
	}
	return mdText(strings.Join(parts, ", "))
}

func mdRecordLink(rel string) string {
	switch rel {
	case "":
		return "unknown"
	case ".":
		return "this folder"
	}
	if strings.HasPrefix(rel, "/") {
		return "`" + rel + "`"
	}
	return fmt.Sprintf("[`%s/`](%s/)", rel, mdLinkPath(rel))
}

func writeMDTable(b *bytes.Buffer, v view) {
	b.WriteString("| |")
	for _, r := range v.Runs {
		fmt.Fprintf(b, " **%s** |", mdCell(r.Label))
	}
	b.WriteString("\n| --- |")
	for range v.Runs {
		b.WriteString(" --- |")
	}
	b.WriteString("\n")
	for _, m := range metrics {
		fmt.Fprintf(b, "| %s |", m.Name)
		for _, r := range v.Runs {
			val := mdCell(m.Get(r.Cells))
			if m.Name == "verdict" {
				val = "**" + val + "**"
			}
			fmt.Fprintf(b, " %s |", val)
		}
		b.WriteString("\n")
	}
}

// writeMDMatrix writes the comparison matrix, a row per run, best values in bold, and the rule
// of each column.
func writeMDMatrix(b *bytes.Buffer, m *matrix) {
	b.WriteString("## Comparison\n\n| topology |")
	for _, c := range m.Columns {
		fmt.Fprintf(b, " %s |", mdCell(c.Name))
	}
	b.WriteString("\n| --- |")
	for range m.Columns {
		b.WriteString(" --- |")
	}
	b.WriteString("\n")
	for _, r := range m.Rows {
		fmt.Fprintf(b, "| %s |", mdCell(r.Label))
		for _, c := range r.Cells {
			val := mdCell(c.Text)
			if c.Best {
				val = "**" + val + "**"
			}
			fmt.Fprintf(b, " %s |", val)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(b, "\nThe best value of each column is in **bold**. %s\n\n", matrixRules)
	for _, c := range m.Columns {
		fmt.Fprintf(b, "- **%s**: %s\n", mdText(c.Name), mdText(c.Best))
	}
}

func writeKVTable(b *bytes.Buffer, title string, rows []kv) {
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(b, "| %s | |\n| --- | --- |\n", title)
	for _, r := range rows {
		fmt.Fprintf(b, "| `%s` | %s |\n", r.Key, mdCell(r.Value))
	}
	b.WriteString("\n")
}

var mdEscaper = strings.NewReplacer("<", "&lt;", ">", "&gt;", "\n", " ")

// mdText keeps text from being read as HTML; Markdown emphasis in text is left alone.
func mdText(s string) string { return mdEscaper.Replace(s) }

// mdCell is mdText that also keeps a '|' from ending a table cell.
func mdCell(s string) string { return strings.ReplaceAll(mdText(s), "|", `\|`) }

// mdLinkPath escapes the characters a Markdown link target cannot hold.
func mdLinkPath(p string) string {
	return strings.NewReplacer(" ", "%20", "(", "%28", ")", "%29").Replace(p)
}

// colorName names the palette's colours in words, for a reader of the text.
func colorName(hex string) string {
	names := map[string]string{
		"#d62728": "red", "#1f77b4": "blue", "#2ca02c": "green", "#9467bd": "purple",
		"#ff7f0e": "orange", "#8c564b": "brown", "#e377c2": "pink", "#17becf": "cyan",
		"#7f7f7f": "gray", "#bcbd22": "olive", "#393b79": "dark blue", "#637939": "dark olive",
		"#8c6d31": "dark gold", "#843c39": "dark red", "#7b4173": "dark purple",
	}
	if n, ok := names[hex]; ok {
		return n
	}
	return hex
}
