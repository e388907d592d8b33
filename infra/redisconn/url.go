package redisconn

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// The URL schemes FLEET_REDIS_URL accepts.
const (
	// SchemeRedis is one Redis server, plain TCP.
	SchemeRedis = "redis"
	// SchemeRedisTLS is one Redis server over TLS.
	SchemeRedisTLS = "rediss"
	// SchemeSentinel is a master found through Redis Sentinel, plain TCP.
	SchemeSentinel = "redis-sentinel"
	// SchemeSentinelTLS is a master found through Redis Sentinel, with TLS
	// to the sentinels and to the master and replicas alike.
	SchemeSentinelTLS = "rediss-sentinel"
)

// Default ports when an address names none.
const (
	defaultRedisPort    = "6379"
	defaultSentinelPort = "26379"
)

// ErrInvalidURL marks a FLEET_REDIS_URL that cannot be used. Its messages
// say what is wrong and never repeat the URL or any part of its user
// information.
var ErrInvalidURL = errors.New("invalid FLEET_REDIS_URL")

// urlError builds an ErrInvalidURL with a reason.
func urlError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidURL, fmt.Sprintf(format, args...))
}

// ParseURL reads one of the URL forms of FLEET_REDIS_URL:
//
//	redis://[user:password@]host[:port][/db]
//	rediss://[user:password@]host[:port][/db]
//	redis-sentinel://[user:password@]host1[:port],host2[:port],.../db?master=NAME[&sentinel_username=U][&sentinel_password=P]
//	rediss-sentinel://... (the same, with TLS)
//
// The user information is the login of the Redis data nodes (ACL user and
// password, or only a password as ":password@"); it must be
// percent-encoded. The port defaults to 6379, or 26379 for sentinels; the
// database to 0. ParseURL reads no file: TLS trust is added by New. Its
// errors wrap ErrInvalidURL and never contain a password.
func ParseURL(raw string) (*Target, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return nil, urlError("it must start with redis://, rediss://, redis-sentinel:// or rediss-sentinel://")
	}
	var sentinel, useTLS bool
	switch scheme {
	case SchemeRedis:
	case SchemeRedisTLS:
		useTLS = true
	case SchemeSentinel:
		sentinel = true
	case SchemeSentinelTLS:
		sentinel, useTLS = true, true
	default:
		return nil, urlError("the scheme must be redis, rediss, redis-sentinel or rediss-sentinel")
	}

	// The authority is split by hand: net/url rejects a list of hosts with
	// IPv6 literals, and its errors quote the whole URL, password included.
	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	userinfo, hostList := "", authority
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		userinfo, hostList = authority[:i], authority[i+1:]
	}
	withoutHosts := scheme + "://"
	if userinfo != "" {
		withoutHosts += userinfo + "@"
	}
	u, err := url.Parse(withoutHosts + "placeholder" + tail)
	if err != nil {
		return nil, urlError("it is not a valid URL (percent-encode @ : / ? # and %% in the user and password)")
	}
	if u.Fragment != "" || strings.Contains(tail, "#") {
		return nil, urlError("it must not have a #fragment (percent-encode # in a password as %%23)")
	}

	t := &Target{sentinel: sentinel}
	if u.User != nil {
		t.username = u.User.Username()
		t.password, _ = u.User.Password()
	}
	if t.db, err = parseDB(u.Path); err != nil {
		return nil, err
	}
	port := defaultRedisPort
	if sentinel {
		port = defaultSentinelPort
	}
	if t.addrs, err = parseAddrs(hostList, port); err != nil {
		return nil, err
	}
	if !sentinel && len(t.addrs) > 1 {
		return nil, urlError("%s:// names one server; list several sentinels with redis-sentinel://", scheme)
	}
	if err := t.applyQuery(u.Query()); err != nil {
		return nil, err
	}
	if useTLS {
		t.tls = &tls.Config{MinVersion: tls.VersionTLS12}
		if !sentinel {
			// Sentinel connections verify each address they dial (the
			// master's is learnt at run time); one server verifies its name.
			t.tls.ServerName = hostOf(t.addrs[0])
		}
	}
	return t, nil
}

// parseDB reads the database number from the URL path ("", "/" or "/N").
func parseDB(path string) (int, error) {
	p := strings.TrimPrefix(path, "/")
	if p == "" {
		return 0, nil
	}
	db, err := strconv.Atoi(p)
	if err != nil || db < 0 || strconv.Itoa(db) != p {
		return 0, urlError("the path must be a database number such as /0")
	}
	return db, nil
}

// parseAddrs splits a comma-separated list of host[:port] into host:port
// addresses.
func parseAddrs(list, defaultPort string) ([]string, error) {
	if list == "" {
		return nil, urlError("it names no host")
	}
	parts := strings.Split(list, ",")
	addrs := make([]string, 0, len(parts))
	for i, part := range parts {
		addr, ok := hostPort(part, defaultPort)
		if !ok {
			return nil, urlError("address %d of %d is not host, host:port or [ipv6]:port", i+1, len(parts))
		}
		addrs = append(addrs, addr)
	}
	return addrs, nil
}

// hostPort normalises host, host:port, [v6] or [v6]:port to host:port.
func hostPort(s, defaultPort string) (string, bool) {
	if s == "" || strings.ContainsAny(s, " %") {
		return "", false
	}
	host, port := s, defaultPort
	switch {
	case strings.HasPrefix(s, "["):
		if strings.HasSuffix(s, "]") {
			host = s[1 : len(s)-1]
			break
		}
		h, p, err := net.SplitHostPort(s)
		if err != nil {
			return "", false
		}
		host, port = h, p
	case strings.Contains(s, ":"):
		h, p, err := net.SplitHostPort(s)
		if err != nil {
			return "", false
		}
		host, port = h, p
	}
	n, err := strconv.Atoi(port)
	if host == "" || err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
		return "", false
	}
	return net.JoinHostPort(host, port), true
}

// sentinelParams are the query parameters of the Sentinel forms.
var sentinelParams = []string{"master", "sentinel_password", "sentinel_username"}

// applyQuery reads the query parameters: the Sentinel ones, and nothing
// else (an unknown parameter is an error, so a misspelt option is not
// silently ignored).
func (t *Target) applyQuery(q url.Values) error {
	var unknown []string
	for key, values := range q {
		if !t.sentinel || !slices.Contains(sentinelParams, key) {
			unknown = append(unknown, strconv.Quote(key))
			continue
		}
		if len(values) != 1 {
			return urlError("parameter %q is given %d times", key, len(values))
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		if !t.sentinel {
			return urlError("unknown parameter %s (redis:// and rediss:// take none)", strings.Join(unknown, ", "))
		}
		return urlError("unknown parameter %s (the Sentinel forms take master, sentinel_username and sentinel_password)", strings.Join(unknown, ", "))
	}
	if !t.sentinel {
		return nil
	}
	t.masterName = q.Get("master")
	t.sentinelUsername = q.Get("sentinel_username")
	t.sentinelPassword = q.Get("sentinel_password")
	if t.masterName == "" {
		return urlError("a Sentinel URL needs ?master=NAME, the name the sentinels monitor")
	}
	return nil
}

// hostOf returns the host of a host:port address.
func hostOf(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return host
}
