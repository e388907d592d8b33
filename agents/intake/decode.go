package intake

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// ErrMalformed marks a webhook body that is not the JSON it should be
// (400).
var ErrMalformed = errors.New("malformed body")

// decodeJSON decodes one JSON object from body into v, optionally
// rejecting unknown fields. Anything but exactly one object is malformed.
func decodeJSON(body []byte, v any, strict bool) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if strict {
		dec.DisallowUnknownFields()
	}
	if t := bytes.TrimSpace(body); len(t) == 0 || t[0] != '{' {
		return fmt.Errorf("%w: want a JSON object", ErrMalformed)
	}
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: data after the JSON object", ErrMalformed)
	}
	return nil
}
