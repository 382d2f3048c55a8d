package ingest

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/ingest/officetest"
)

// testDocx is a Word file with headings (one under a Japanese-style
// localised style id), a list, a table, a line break, a tab, a field and
// deleted text.
func testDocx() []byte {
	styles := `<w:style w:type="paragraph" w:styleId="1"><w:name w:val="heading 1"/></w:style>` +
		`<w:style w:type="paragraph" w:styleId="2"><w:name w:val="heading 2"/></w:style>`
	body := officetest.Para("Title", "就業規則") +
		officetest.Para("1", "第1章 総則") +
		officetest.Para("", "この規則は従業員の労働条件を定める。") +
		`<w:p><w:pPr><w:pStyle w:val="ListParagraph"/><w:numPr><w:ilvl w:val="0"/><w:numId w:val="1"/></w:numPr></w:pPr><w:r><w:t>有給休暇</w:t></w:r></w:p>` +
		`<w:p><w:pPr><w:numPr><w:ilvl w:val="0"/><w:numId w:val="1"/></w:numPr></w:pPr><w:r><w:t>特別休暇</w:t></w:r></w:p>` +
		officetest.Para("Heading2", "Leave") +
		`<w:p><w:pPr><w:tabs><w:tab w:val="left" w:pos="720"/></w:tabs></w:pPr><w:r><w:t>Days:</w:t></w:r><w:r><w:tab/><w:t>20</w:t></w:r><w:r><w:br/><w:t>See page </w:t></w:r>` +
		`<w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText xml:space="preserve"> PAGEREF _Toc1 \h </w:instrText></w:r><w:r><w:fldChar w:fldCharType="separate"/></w:r><w:r><w:t>4</w:t></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r>` +
		`<w:del><w:r><w:delText>old text</w:delText></w:r></w:del></w:p>` +
		`<w:tbl><w:tr><w:tc><w:p><w:r><w:t>区分</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>日数</w:t></w:r></w:p></w:tc></w:tr>` +
		`<w:tr><w:tc><w:p><w:r><w:t>年次</w:t></w:r></w:p><w:p><w:r><w:t>有給</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>20日</w:t></w:r></w:p></w:tc></w:tr></w:tbl>` +
		`<w:p><w:r><w:t xml:space="preserve">Boxed: </w:t></w:r><w:r><mc:AlternateContent xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006">` +
		`<mc:Choice Requires="wps"><w:drawing><w:txbxContent><w:p><w:r><w:t>In the box.</w:t></w:r></w:p></w:txbxContent></w:drawing></mc:Choice>` +
		`<mc:Fallback><w:pict><w:txbxContent><w:p><w:r><w:t>In the box.</w:t></w:r></w:p></w:txbxContent></w:pict></mc:Fallback></mc:AlternateContent></w:r>` +
		`<w:r><w:t xml:space="preserve"> after.</w:t></w:r></w:p>` +
		officetest.Para("", "End.")
	return officetest.Docx(body, styles)
}

const wantDocx = `# 就業規則

# 第1章 総則

この規則は従業員の労働条件を定める。

- 有給休暇
- 特別休暇

## Leave

Days:	20
See page 4

区分 | 日数
年次 有給 | 20日

In the box.

Boxed:  after.

End.`

// testPptx has eleven slides, so slide10 and slide11 sort before slide2 by
// name, a table and Japanese text.
func testPptx() []byte {
	var slides []string
	for i := 1; i <= 11; i++ {
		s := officetest.TextBox(fmt.Sprintf("Point %d", i))
		switch i {
		case 1:
			s = officetest.TextBox("経費精算規程", "2026年4月改定") + officetest.TextBox("総務部")
		case 3:
			s += officetest.SlideTable([]string{"項目", "上限"}, []string{"宿泊費", "12,000円"})
		}
		slides = append(slides, s)
	}
	return officetest.Pptx(slides...)
}

// testXlsx has two sheets, shared strings with rich text and a phonetic
// guide, an inline string, numbers, booleans, an error and a column gap.
func testXlsx() []byte {
	shared := `<si><t>項目</t></si><si><t>金額</t></si>` +
		`<si><r><t>交通</t></r><r><rPr><b/></rPr><t>費</t></r><rPh sb="0" eb="2"><t>コウツウ</t></rPh></si>`
	budget := `<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row>` +
		`<row r="2"><c r="A2" t="s"><v>2</v></c><c r="B2"><v>1500.5</v></c><c r="D2" t="b"><v>1</v></c></row>` +
		`<row r="3"><c r="A3" t="inlineStr"><is><t>合計</t></is></c><c r="B3"><f>SUM(B2)</f><v>1500.5</v></c><c r="C3" t="e"><v>#DIV/0!</v></c></row>` +
		`<row r="4"><c r="A4"/></row>`
	notes := `<row r="1"><c r="A1" t="str"><v>承認済み</v></c><c r="B1" t="b"><v>0</v></c></row>`
	return officetest.Xlsx(shared, officetest.Sheet{Name: "予算 Budget", Data: budget}, officetest.Sheet{Name: "Empty"}, officetest.Sheet{Name: "Notes", Data: notes})
}

const wantXlsx = `# 予算 Budget

項目 | 金額
交通費 | 1500.5 |  | TRUE
合計 | 1500.5 | #DIV/0!

# Notes

承認済み | FALSE`

func TestDocxText(t *testing.T) {
	got, err := DocxText(testDocx())
	if err != nil {
		t.Fatal(err)
	}
	if got != wantDocx {
		t.Errorf("DocxText =\n%s\nwant\n%s", got, wantDocx)
	}
	// Without styles.xml the built-in ids still make headings.
	plain, err := DocxText(officetest.Docx(officetest.Para("Heading3", "Scope")+officetest.Para("", "Text."), ""))
	if err != nil || plain != "### Scope\n\nText." {
		t.Errorf("DocxText without styles = %q, %v", plain, err)
	}
}

func TestPptxText(t *testing.T) {
	got, parts, err := PptxText(testPptx())
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 11 {
		t.Fatalf("%d parts, want 11: %+v", len(parts), parts)
	}
	for i, p := range parts {
		n := i + 1
		if p.Name != fmt.Sprintf("slide %d", n) || !strings.HasPrefix(got[p.Start:p.End], fmt.Sprintf("# Slide %d\n\n", n)) {
			t.Errorf("part %d = %+v: %q", i, p, got[p.Start:p.End])
		}
		if n > 1 && !strings.Contains(got[p.Start:p.End], fmt.Sprintf("Point %d", n)) {
			t.Errorf("slide %d: %q lacks its point", n, got[p.Start:p.End])
		}
	}
	if want := "# Slide 1\n\n経費精算規程\n2026年4月改定\n\n総務部"; got[parts[0].Start:parts[0].End] != want {
		t.Errorf("slide 1 = %q, want %q", got[parts[0].Start:parts[0].End], want)
	}
	if want := "# Slide 3\n\nPoint 3\n\n項目 | 上限\n宿泊費 | 12,000円"; got[parts[2].Start:parts[2].End] != want {
		t.Errorf("slide 3 = %q, want %q", got[parts[2].Start:parts[2].End], want)
	}
}

func TestXlsxText(t *testing.T) {
	got, parts, err := XlsxText(testXlsx())
	if err != nil {
		t.Fatal(err)
	}
	if got != wantXlsx {
		t.Errorf("XlsxText =\n%s\nwant\n%s", got, wantXlsx)
	}
	want := []Part{{Name: "sheet 予算 Budget"}, {Name: "sheet Notes"}}
	if len(parts) != len(want) {
		t.Fatalf("parts %+v, want %d", parts, len(want))
	}
	for i, p := range parts {
		if p.Name != want[i].Name || !strings.HasPrefix(got[p.Start:p.End], "# ") {
			t.Errorf("part %d = %+v", i, p)
		}
	}
	if parts[1].End != len(got) {
		t.Errorf("last part ends at %d, text at %d", parts[1].End, len(got))
	}
}

func TestReadOffice(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string][]byte{"rules.docx": testDocx(), "deck.pptx": testPptx(), "book.xlsx": testXlsx()} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	docs, err := Load(context.Background(), []string{dir}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	formats := map[string]string{}
	for _, d := range docs {
		formats[filepath.Base(d.Source)] = d.Format
		if (d.Format == FormatDocx) != (d.Parts == nil) {
			t.Errorf("%s: parts %+v", d.Source, d.Parts)
		}
	}
	if formats["rules.docx"] != FormatDocx || formats["deck.pptx"] != FormatPptx || formats["book.xlsx"] != FormatXlsx {
		t.Errorf("formats %v", formats)
	}
}

// TestChunkLocation checks that every chunk of a presentation names the
// slides it spans, and that a span inside it is located on its slide.
func TestChunkLocation(t *testing.T) {
	text, parts, err := PptxText(testPptx())
	if err != nil {
		t.Fatal(err)
	}
	doc := Document{Source: "deck.pptx", Format: FormatPptx, Text: text, Parts: parts}
	c := mustChunker(t, 12, 2, "")
	chunks := c.Split(doc)
	if len(chunks) < 3 {
		t.Fatalf("%d chunks", len(chunks))
	}
	for _, ch := range chunks {
		first, last := "", ""
		for i, p := range parts {
			if p.Start < ch.End && ch.Start < p.End {
				if first == "" {
					first = parts[i].Name
				}
				last = parts[i].Name
			}
		}
		want := first
		if last != first {
			want = first + " to " + last
		}
		if ch.Location != want || want == "" {
			t.Errorf("%s [%d:%d] location %q, want %q", ch.ID, ch.Start, ch.End, ch.Location, want)
		}
	}
	i := strings.Index(text, "宿泊費")
	for _, ch := range chunks {
		if ch.Start <= i && i+9 <= ch.End {
			if got := ch.Locate(i, i+9); got != "slide 3" {
				t.Errorf("Locate(宿泊費) = %q, want slide 3", got)
			}
		}
	}
	if got := Locate(parts, parts[0].End-1, parts[1].Start+1); got != "slide 1 to slide 2" {
		t.Errorf("Locate across slides = %q", got)
	}
}

func TestOfficeErrors(t *testing.T) {
	docx := testDocx()
	broken := officetest.Zip(map[string]string{"word/document.xml": `<w:document xmlns:w="x"><w:body><w:p></w:body>`})
	noSlide := officetest.Zip(map[string]string{
		"ppt/presentation.xml":            `<p:presentation xmlns:p="p" xmlns:r="r"><p:sldIdLst><p:sldId id="256" r:id="rId1"/></p:sldIdLst></p:presentation>`,
		"ppt/_rels/presentation.xml.rels": `<Relationships><Relationship Id="rId1" Target="slides/slide1.xml"/></Relationships>`,
	})
	badRel := officetest.Zip(map[string]string{
		"ppt/presentation.xml":            `<p:presentation xmlns:p="p" xmlns:r="r"><p:sldIdLst><p:sldId id="256" r:id="rId9"/></p:sldIdLst></p:presentation>`,
		"ppt/_rels/presentation.xml.rels": `<Relationships></Relationships>`,
	})
	many := map[string]string{}
	for i := range maxZipEntries + 1 {
		many[fmt.Sprint(i)] = ""
	}
	for _, tc := range []struct {
		format string
		data   []byte
		want   string
	}{
		{FormatDocx, []byte("not a zip"), "docx: not an Office file (zip)"},
		{FormatDocx, docx[:len(docx)/2], "docx: not an Office file"},
		{FormatDocx, officetest.Zip(map[string]string{"x.xml": "<x/>"}), "docx: missing part word/document.xml"},
		{FormatDocx, broken, "docx: word/document.xml: malformed XML"},
		{FormatPptx, testXlsx(), "pptx: missing part ppt/_rels/presentation.xml.rels"},
		{FormatPptx, noSlide, "pptx: slide 1: missing part ppt/slides/slide1.xml"},
		{FormatPptx, badRel, `relationship "rId9" is not in ppt/_rels/presentation.xml.rels`},
		{FormatXlsx, testDocx(), "xlsx: missing part xl/_rels/workbook.xml.rels"},
		{FormatXlsx, officetest.Xlsx("", officetest.Sheet{Name: "S", Data: "<row><c><v>1</row>"}), `xlsx: sheet "S": xl/worksheets/sheet1.xml: malformed XML`},
		{FormatXlsx, officetest.Zip(many), "zip entries, more than 10000"},
	} {
		_, _, err := ExtractParts(tc.format, tc.data)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ExtractParts(%s) error = %v, want %q", tc.format, err, tc.want)
		}
	}
	// Read names the file.
	p := filepath.Join(t.TempDir(), "bad.xlsx")
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(context.Background(), p, Options{}); err == nil || !strings.Contains(err.Error(), "bad.xlsx: xlsx:") {
		t.Errorf("Read error = %v, want the file named", err)
	}
}

// TestZipBomb checks that inflating stops at the bound, whatever the zip's
// headers claim.
func TestZipBomb(t *testing.T) {
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	f, err := w.Create("word/document.xml")
	if err != nil {
		t.Fatal(err)
	}
	f.Write(bytes.Repeat([]byte(" "), 1<<20)) // 1 MB of spaces compresses to ~1 kB
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	z, err := openOOXML(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	z.read = maxUnzipped - 1000 // as if earlier parts had inflated that much
	if _, err := z.part("word/document.xml"); !errors.Is(err, ErrZipBomb) {
		t.Errorf("part error = %v, want ErrZipBomb", err)
	}
	z.read = 0
	if b, err := z.part("word/document.xml"); err != nil || len(b) != 1<<20 {
		t.Errorf("part = %d bytes, %v", len(b), err)
	}
}

func TestPDFPages(t *testing.T) {
	text, parts, err := ExtractParts(FormatPDF, testPDF(t, "Refunds take five days.", "Warranty: two years."))
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 2 || parts[0].Name != "page 1" || parts[1].Name != "page 2" ||
		text[parts[0].Start:parts[0].End] != "Refunds take five days." || text[parts[1].Start:parts[1].End] != "Warranty: two years." {
		t.Errorf("ExtractParts(pdf) = %q, %+v", text, parts)
	}
}

// TestXlsxTextBudget checks that a sheet stops at the workbook's text
// budget (200 MB in XlsxText; a few bytes here).
func TestXlsxTextBudget(t *testing.T) {
	z, err := openOOXML(testXlsx())
	if err != nil {
		t.Fatal(err)
	}
	left := 10
	if _, err := xlsxSheet(z, "xl/worksheets/sheet1.xml", nil, &left); !errors.Is(err, ErrZipBomb) {
		t.Errorf("xlsxSheet over budget: error %v, want ErrZipBomb", err)
	}
}
