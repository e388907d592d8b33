package dashboard

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tenantfleet/tenantfleet/infra/auth"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// assetHandler serves the embedded assets under /assets/, cacheable for an
// hour (their names carry the vendored versions).
func assetHandler() http.Handler {
	sub, err := fs.Sub(assetFS, "assets")
	if err != nil {
		panic(err) // the embed directive guarantees the directory
	}
	files := http.StripPrefix("/assets/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") { // no directory listings
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "private, max-age=3600")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	})
}

// pages are the parsed templates, one set per page: the layout and the
// page's own "content".
type pages struct {
	byName map[string]*template.Template
}

// pageNames are the templates/*.html files besides layout.html.
var pageNames = []string{"overview", "tenants", "tenant", "migrations", "alerts", "cost", "schedule", "error"}

func parsePages() (*pages, error) {
	p := &pages{byName: map[string]*template.Template{}}
	for _, name := range pageNames {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("dashboard: template %s: %w", name, err)
		}
		p.byName[name] = t
	}
	return p, nil
}

// view is what every page's template gets.
type view struct {
	// Title is the page's heading, Nav the navigation entry to highlight.
	Title, Nav string
	// Principal is the caller; CanAct shows the action buttons (the API
	// refuses a viewer's action anyway).
	Principal auth.Principal
	CanAct    bool
	// CSRF is the session's token, for forms and the X-CSRF-Token header.
	CSRF string
	// Monitoring is Asynqmon's path.
	Monitoring string
	// Now is when the page was rendered.
	Now time.Time
	// Data is the page's own.
	Data any
}

// errPage is an error a page handler answers with its status and a message
// the caller may read.
type errPage struct {
	status int
	msg    string
}

func (e *errPage) Error() string { return e.msg }

func badParam(format string, args ...any) error {
	return &errPage{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) error {
	return &errPage{status: http.StatusNotFound, msg: fmt.Sprintf(format, args...)}
}

// pageFunc reads a page's data: its template name, title, navigation entry
// and data.
type pageFunc func(r *http.Request) (tmpl, title string, data any, err error)

// page renders fn's template into a buffer first, so a failure answers a
// clean error page rather than half a page.
func (d *Dashboard) page(fn pageFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := auth.PrincipalFrom(r.Context())
		if !ok {
			p = auth.Principal{Name: "unknown", Role: auth.RoleViewer}
		}
		v := view{Principal: p, CanAct: p.CanAct(), CSRF: auth.CSRFTokenFrom(r.Context()),
			Monitoring: d.cfg.MonitoringPath, Now: time.Now().UTC()}
		tmpl, title, data, err := fn(r)
		status := http.StatusOK
		if err != nil {
			var ep *errPage
			if !errors.As(err, &ep) {
				d.log.ErrorContext(r.Context(), "dashboard: page failed", slog.String("path", r.URL.Path), slog.Any("error", err))
				ep = &errPage{status: http.StatusInternalServerError, msg: "the page could not be read; the server log has the cause"}
			}
			status, tmpl, title, data = ep.status, "error", http.StatusText(ep.status), ep.msg
		}
		v.Title, v.Nav, v.Data = title, tmpl, data
		var buf bytes.Buffer
		if err := d.pages.byName[tmpl].Execute(&buf, v); err != nil {
			d.log.ErrorContext(r.Context(), "dashboard: render failed", slog.String("page", tmpl), slog.Any("error", err))
			http.Error(w, "render failed", http.StatusInternalServerError)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		w.WriteHeader(status)
		_, _ = w.Write(buf.Bytes())
	})
}

// funcs are the templates' helpers.
var funcs = template.FuncMap{
	"pct": func(v float64) string { return fmt.Sprintf("%.0f%%", v) },
	"barw": func(v float64) string { // a CSS width, clamped to 0..100%
		return fmt.Sprintf("%.1f%%", math.Max(0, math.Min(100, v)))
	},
	"level": func(v float64) string { // a bar's colour class
		switch {
		case v >= 90:
			return "crit"
		case v >= 75:
			return "warn"
		}
		return "ok"
	},
	"usd": func(v float64) string { return fmt.Sprintf("$%.2f", v) },
	"f1":  func(v float64) string { return fmt.Sprintf("%.1f", v) },
	"f3":  func(v float64) string { return fmt.Sprintf("%.3f", v) },
	"time": func(t any) string {
		switch t := t.(type) {
		case time.Time:
			if t.IsZero() {
				return "—"
			}
			return t.UTC().Format("2006-01-02 15:04:05Z")
		case *time.Time:
			if t == nil || t.IsZero() {
				return "—"
			}
			return t.UTC().Format("2006-01-02 15:04:05Z")
		}
		return "—"
	},
	"ago": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		d := time.Since(t).Round(time.Second)
		switch {
		case d < time.Minute:
			return fmt.Sprintf("%ds ago", int(d.Seconds()))
		case d < time.Hour:
			return fmt.Sprintf("%dm ago", int(d.Minutes()))
		case d < 48*time.Hour:
			return fmt.Sprintf("%dh ago", int(d.Hours()))
		}
		return fmt.Sprintf("%dd ago", int(d.Hours()/24))
	},
	"dur": func(ns int64) string { return time.Duration(ns).Round(time.Millisecond).String() },
	"bytes": func(n int64) string {
		const unit = 1024
		if n < unit {
			return fmt.Sprintf("%d B", n)
		}
		div, exp := int64(unit), 0
		for m := n / unit; m >= unit; m /= unit {
			div *= unit
			exp++
		}
		return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
	},
	"join":   strings.Join,
	"list":   func(s ...string) []string { return s },
	"heat":   func(v float64) string { return fmt.Sprintf("%.2f", 0.15+0.85*math.Max(0, math.Min(100, v))/100) },
	"add":    func(a, b int) int { return a + b },
	"itoa":   strconv.Itoa,
	"mul100": func(v float64) float64 { return v * 100 },
}

// percent is part of whole in percent, 0 for an empty whole.
func percent(part, whole int) float64 {
	if whole <= 0 {
		return 0
	}
	return float64(part) / float64(whole) * 100
}

// nonNil makes an empty list encode as [] rather than null.
func nonNil[T any](list []T) []T {
	if list == nil {
		return []T{}
	}
	return list
}
