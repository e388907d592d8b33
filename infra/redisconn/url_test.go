package redisconn

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

func TestParseURLForms(t *testing.T) {
	t.Parallel()
	cases := []struct {
		raw  string
		want Target
		tls  bool
	}{
		{raw: "redis://127.0.0.1:6379/0", want: Target{addrs: []string{"127.0.0.1:6379"}}},
		{raw: "redis://cache", want: Target{addrs: []string{"cache:6379"}}},
		{raw: "redis://cache/", want: Target{addrs: []string{"cache:6379"}}},
		{raw: "redis://:p%40ss@cache:7000/3", want: Target{addrs: []string{"cache:7000"}, password: "p@ss", db: 3}},
		{raw: "redis://fleet:pw@[::1]:6380/1", want: Target{addrs: []string{"[::1]:6380"}, username: "fleet", password: "pw", db: 1}},
		{raw: "rediss://fleet:pw@redis.internal:6380/2", tls: true,
			want: Target{addrs: []string{"redis.internal:6380"}, username: "fleet", password: "pw", db: 2}},
		{raw: "redis-sentinel://s1:26379,s2,[::1]:26380/4?master=mymaster", want: Target{sentinel: true,
			addrs: []string{"s1:26379", "s2:26379", "[::1]:26380"}, masterName: "mymaster", db: 4}},
		{raw: "redis-sentinel://app:data%2Fpw@s1:26379,s2:26379/0?master=m1&sentinel_username=sen&sentinel_password=s%26pw",
			want: Target{sentinel: true, addrs: []string{"s1:26379", "s2:26379"}, masterName: "m1", username: "app",
				password: "data/pw", sentinelUsername: "sen", sentinelPassword: "s&pw"}},
		{raw: "rediss-sentinel://:pw@[::1],10.0.0.2:5000/0?master=m", tls: true, want: Target{sentinel: true,
			addrs: []string{"[::1]:26379", "10.0.0.2:5000"}, masterName: "m", password: "pw"}},
	}
	for _, tc := range cases {
		got, err := ParseURL(tc.raw)
		if err != nil {
			t.Errorf("ParseURL(%q): %v", tc.raw, err)
			continue
		}
		if (got.tls != nil) != tc.tls {
			t.Errorf("ParseURL(%q): TLS %v, want %v", tc.raw, got.tls != nil, tc.tls)
		}
		got.tls = nil
		if !reflect.DeepEqual(*got, tc.want) {
			t.Errorf("ParseURL(%q) = %+v, want %+v", tc.raw, *got, tc.want)
		}
	}
}

func TestParseURLTLSVerifiesByName(t *testing.T) {
	t.Parallel()
	one, err := ParseURL("rediss://redis.internal:6380/0")
	if err != nil {
		t.Fatal(err)
	}
	if one.tls.ServerName != "redis.internal" || one.tls.InsecureSkipVerify {
		t.Errorf("rediss:// TLS config: ServerName %q, InsecureSkipVerify %v; want the host, verified",
			one.tls.ServerName, one.tls.InsecureSkipVerify)
	}
	s, err := ParseURL("rediss-sentinel://s1,s2/0?master=m")
	if err != nil {
		t.Fatal(err)
	}
	// Each dialled address (sentinels, then the master they name) is
	// verified against its own host name.
	if s.tls.ServerName != "" || s.tls.InsecureSkipVerify {
		t.Errorf("rediss-sentinel:// TLS config: ServerName %q, InsecureSkipVerify %v; want per-address verification",
			s.tls.ServerName, s.tls.InsecureSkipVerify)
	}
}

func TestParseURLRejectsWithoutEchoingSecrets(t *testing.T) {
	t.Parallel()
	const secret = "hunter2secret"
	cases := []struct {
		raw, want string
	}{
		{"127.0.0.1:6379", "must start with"},
		{"http://:" + secret + "@h/0", "scheme must be"},
		{"redis://:" + secret + "@/0", "names no host"},
		{"redis://:" + secret + "@h:notaport/0", "address 1 of 1"},
		{"redis://:" + secret + "@h:70000/0", "address 1 of 1"},
		{"redis://:" + secret + "@h/zero", "database number"},
		{"redis://:" + secret + "@h/-1", "database number"},
		{"redis://:" + secret + "@h/0/1", "database number"},
		{"redis://:" + secret + "@h1,h2/0", "names one server"},
		{"redis://:" + secret + "@h/0?dial_timeout=3", `unknown parameter "dial_timeout"`},
		{"redis://:" + secret + "@h/0?skip_verify=true", `unknown parameter "skip_verify"`},
		{"rediss://:" + secret + "@h/0?password=" + secret, `unknown parameter "password"`},
		{"redis://:" + secret + "%zz@h/0", "not a valid URL"},
		{"redis://:" + secret + "#x@h/0", "fragment"},
		{"redis://:12#" + secret + "@h/0", "fragment"},
		{"redis-sentinel://:" + secret + "@s1,s2/0", "needs ?master=NAME"},
		{"redis-sentinel://:" + secret + "@s1,,s2/0?master=m", "address 2 of 3"},
		{"redis-sentinel://s1/0?master=m&sentinel_password=" + secret + "&sentinel_password=" + secret, "given 2 times"},
		{"redis-sentinel://s1/0?master=m&sentinelpassword=" + secret, `unknown parameter "sentinelpassword"`},
	}
	for _, tc := range cases {
		_, err := ParseURL(tc.raw)
		if !errors.Is(err, ErrInvalidURL) {
			t.Errorf("ParseURL(%q) error = %v, want ErrInvalidURL", tc.raw, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseURL(%q) error %q does not say %q", tc.raw, err, tc.want)
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("ParseURL(%q) error echoes the secret: %q", tc.raw, err)
		}
	}
}

func TestConfigValidateTLSFiles(t *testing.T) {
	t.Parallel()
	cases := []struct {
		cfg  Config
		want []string // substrings; empty: valid
	}{
		{Config{URL: "rediss://h/0", CAFile: "/ca.pem"}, nil},
		{Config{URL: "rediss://h/0", CAFile: "/ca.pem", CertFile: "/c.pem", KeyFile: "/k.pem"}, nil},
		{Config{URL: "redis://h/0", CAFile: "/ca.pem"}, []string{"FLEET_REDIS_CA_FILE is set but FLEET_REDIS_URL does not use TLS"}},
		{Config{URL: "redis-sentinel://h/0?master=m", CertFile: "/c.pem", KeyFile: "/k.pem"},
			[]string{"FLEET_REDIS_CERT_FILE is set but", "FLEET_REDIS_KEY_FILE is set but"}},
		{Config{URL: "rediss://h/0", CertFile: "/c.pem"}, []string{"FLEET_REDIS_CERT_FILE and FLEET_REDIS_KEY_FILE must be set together"}},
		{Config{URL: "redis://h/x", KeyFile: "/k.pem"}, []string{"FLEET_REDIS_URL", "database number", "set together"}},
	}
	for _, tc := range cases {
		err := tc.cfg.Validate()
		if len(tc.want) == 0 {
			if err != nil {
				t.Errorf("Validate(%+v) = %v, want nil", tc.cfg, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("Validate(%+v) = nil, want %v", tc.cfg, tc.want)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Validate(%+v) = %q, want it to say %q", tc.cfg, err, w)
			}
		}
	}
}

func TestNewReportsUnreadableTLSFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		cfg  Config
		want string
	}{
		{Config{URL: "rediss://h/0", CAFile: filepath.Join(dir, "missing.pem")}, "FLEET_REDIS_CA_FILE"},
		{Config{URL: "rediss://h/0", CAFile: notPEM}, "FLEET_REDIS_CA_FILE: no PEM certificate"},
		{Config{URL: "rediss://h/0", CertFile: notPEM, KeyFile: notPEM}, "FLEET_REDIS_CERT_FILE/FLEET_REDIS_KEY_FILE"},
	}
	for _, tc := range cases {
		if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want an error saying %q", tc.cfg, err, tc.want)
		}
	}
}

func TestTargetStringHasNoCredentials(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"redis://:pw-one@h:1/2":      "redis h:1 db 2",
		"rediss://user:pw-one@h:1/0": "rediss h:1 db 0",
		"redis-sentinel://:pw-one@a,b/3?master=mm&sentinel_password=pw-two": `redis-sentinel master "mm" via a:26379,b:26379 db 3`,
		"rediss-sentinel://a/0?master=mm":                                   `rediss-sentinel master "mm" via a:26379 db 0`,
	}
	for raw, want := range cases {
		target, err := ParseURL(raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := target.String(); got != want {
			t.Errorf("String() of %q = %q, want %q", raw, got, want)
		}
		if got := target.WithDB(9).String(); !strings.HasSuffix(got, "db 9") || target.DB() == 9 {
			t.Errorf("WithDB(9) = %q (original db %d), want a copy on db 9", got, target.DB())
		}
	}
}

var passwordShape = regexp.MustCompile(`^[A-Za-z0-9]*([A-Z][A-Za-z0-9]*[0-9]|[0-9][A-Za-z0-9]*[A-Z])[A-Za-z0-9]*$`)

func FuzzParseURLNeverEchoesPassword(f *testing.F) {
	for _, seed := range []string{"redis://:%s@h:6379/0", "rediss://u:%s@h/x", "redis-sentinel://:%s@a,b/0?master=m",
		"redis-sentinel://a/0?master=m&sentinel_password=%s&x=1", "redis://:%s@[::1/0"} {
		f.Add(seed, "s3cr3tPa55")
	}
	f.Fuzz(func(t *testing.T, format, password string) {
		// A password of letters and digits with an upper-case letter and a
		// digit cannot occur in a message by chance.
		if len(password) < 8 || !passwordShape.MatchString(password) || !strings.Contains(format, "%s") || strings.Count(format, "%") != 1 {
			return
		}
		raw := strings.Replace(format, "%s", password, 1)
		if _, err := ParseURL(raw); err != nil && strings.Contains(err.Error(), password) {
			t.Fatalf("ParseURL(%q) error echoes the password: %v", raw, err)
		}
	})
}
