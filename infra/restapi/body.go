package restapi

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/tenantfleet/tenantfleet/infra/httpapi"
)

// readBody reads the request body, bounded by Config.MaxBodyBytes (a
// larger one is a *http.MaxBytesError: 413).
func (a *API) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.cfg.MaxBodyBytes))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, describe(err, "body larger than "+strconv.FormatInt(a.cfg.MaxBodyBytes, 10)+" bytes")
	case err != nil:
		return nil, badRequest("could not read the body")
	}
	return body, nil
}

// decodeBody reads the body into v: exactly one JSON object without
// unknown fields (else 400). An empty body leaves v as it is, when
// optional.
func (a *API) decodeBody(w http.ResponseWriter, r *http.Request, v any, optional bool) error {
	body, err := a.readBody(w, r)
	if err != nil {
		return err
	}
	if optional && len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	return httpapi.DecodeJSON(body, v)
}

// pathID reads the path wildcard id as a positive integer (else 400 naming
// what the id is).
func pathID(r *http.Request, what string) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, badRequest(what + " id must be a positive integer")
	}
	return id, nil
}
