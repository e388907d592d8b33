package config

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
)

// MinSecretKeyLen is the shortest FLEET_SECRET_KEY, in decoded bytes.
const MinSecretKeyLen = 32

// errSecretKey never quotes the key.
var errSecretKey = errors.New("FLEET_SECRET_KEY must be at least 32 bytes given as hex or base64 (for example `openssl rand -hex 32`)")

// SecretKeyBytes decodes SecretKey: hex when it is hex, otherwise standard
// or URL-safe base64, padded or not. It returns nil for an empty key.
func (c Config) SecretKeyBytes() ([]byte, error) {
	if c.SecretKey == "" {
		return nil, nil
	}
	// A valid hex string is hex, even when it is too short: decoding it as
	// base64 instead would turn a truncated key into a longer, wrong one.
	if key, err := hex.DecodeString(c.SecretKey); err == nil {
		if len(key) < MinSecretKeyLen {
			return nil, errSecretKey
		}
		return key, nil
	}
	decoders := []func(string) ([]byte, error){
		base64.StdEncoding.DecodeString, base64.RawStdEncoding.DecodeString,
		base64.URLEncoding.DecodeString, base64.RawURLEncoding.DecodeString,
	}
	for _, decode := range decoders {
		if key, err := decode(c.SecretKey); err == nil && len(key) >= MinSecretKeyLen {
			return key, nil
		}
	}
	return nil, errSecretKey
}
