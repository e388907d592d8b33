package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
)

// WriteJSON writes v as a JSON response with the given status; every
// handler of the server answers through it for a uniform format.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// WriteError writes {"error": msg} with the given status.
func WriteError(w http.ResponseWriter, status int, msg string) {
	WriteJSON(w, status, map[string]string{"error": msg})
}

// ErrMalformedJSON marks a body DecodeJSON refuses (answer 400).
var ErrMalformedJSON = errors.New("malformed JSON body")

// DecodeJSON decodes body, which must hold exactly one JSON object, into v.
// Unknown fields, anything but an object, and any data after it are
// refused with an error wrapping ErrMalformedJSON.
func DecodeJSON(body []byte, v any) error {
	if t := bytes.TrimSpace(body); len(t) == 0 || t[0] != '{' {
		return fmt.Errorf("%w: want a JSON object", ErrMalformedJSON)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformedJSON, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: data after the JSON object", ErrMalformedJSON)
	}
	return nil
}

// requireJSONBody answers 415 to a request that has a body whose
// Content-Type is not application/json (parameters such as charset
// allowed). Requests without a body pass. It keeps the JSON API's bodies
// out of reach of the "simple requests" (text/plain, form encodings) a
// page on another site can send without a CORS preflight.
func requireJSONBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength != 0 && !isJSON(r.Header.Get("Content-Type")) {
			WriteError(w, http.StatusUnsupportedMediaType, "request bodies must be Content-Type: application/json")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func isJSON(contentType string) bool {
	media, _, err := mime.ParseMediaType(contentType)
	return err == nil && media == "application/json"
}
