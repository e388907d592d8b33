package smfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
)

// targetPrefix is the X-Amz-Target prefix of Secrets Manager operations.
const targetPrefix = "secretsmanager."

// contentType is the awsJson1_1 media type.
const contentType = "application/x-amz-json-1.1"

func errorf(code, format string, args ...any) *Fault {
	return &Fault{HTTPStatus: http.StatusBadRequest, Code: code, Message: fmt.Sprintf(format, args...)}
}

func notFound() *Fault {
	return errorf("ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, targetPrefix)
	if r.Method != http.MethodPost || r.URL.Path != "/" || !ok {
		writeError(w, errorf("UnknownOperationException", "want a POST to / with X-Amz-Target %s<Operation>", targetPrefix))
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != contentType {
		writeError(w, errorf("SerializationException", "Content-Type %q: want %s", ct, contentType))
		return
	}
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, errorf("SerializationException", "read body: %v", err))
		return
	}
	body := map[string]any{}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		writeError(w, errorf("SerializationException", "body is not a JSON object"))
		return
	}

	s.mu.Lock()
	s.requests = append(s.requests, Request{Operation: op, Body: body})
	if q := s.faults[op]; len(q) > 0 {
		f := q[0]
		s.faults[op] = q[1:]
		s.mu.Unlock()
		writeError(w, &f)
		return
	}
	out, ferr := s.dispatch(op, body)
	s.mu.Unlock()
	if ferr != nil {
		writeError(w, ferr)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(out)
}

// dispatch runs one operation with s.mu held.
func (s *Server) dispatch(op string, body map[string]any) (map[string]any, *Fault) {
	switch op {
	case "CreateSecret":
		return s.createSecret(body)
	case "GetSecretValue":
		return s.getSecretValue(body)
	case "PutSecretValue":
		return s.putSecretValue(body)
	case "DeleteSecret":
		return s.deleteSecret(body)
	default:
		return nil, errorf("UnknownOperationException", "operation %s is not supported by smfake", op)
	}
}

func str(body map[string]any, key string) string {
	v, _ := body[key].(string)
	return v
}

func (s *Server) createSecret(body map[string]any) (map[string]any, *Fault) {
	name := str(body, "Name")
	if name == "" {
		return nil, errorf("InvalidParameterException", "Name is required.")
	}
	if _, ok := body["SecretString"].(string); !ok {
		return nil, errorf("InvalidParameterException", "smfake stores SecretString values only.")
	}
	sec, ferr := s.create(name, str(body, "SecretString"))
	if ferr != nil {
		return nil, ferr
	}
	return map[string]any{"ARN": sec.arn, "Name": sec.name, "VersionId": sec.versions[0].id}, nil
}

// create adds a secret with one AWSCURRENT version, with s.mu held.
func (s *Server) create(name, value string) (*secret, *Fault) {
	if _, ok := s.names[name]; ok {
		return nil, errorf("ResourceExistsException", "The operation failed because the secret %s already exists.", name)
	}
	suffix := uuid()[:6]
	sec := &secret{
		arn:      fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s-%s", Region, AccountID, name, suffix),
		name:     name,
		created:  time.Now(),
		versions: []*version{{id: uuid(), value: value, stages: []string{StageCurrent}}},
	}
	s.secrets[sec.arn] = sec
	s.names[name] = sec.arn
	return sec, nil
}

// lookup finds a secret by ARN or name, with s.mu held.
func (s *Server) lookup(id string) (*secret, *Fault) {
	if id == "" {
		return nil, errorf("InvalidParameterException", "SecretId is required.")
	}
	sec, ok := s.secrets[id]
	if !ok {
		if arn, named := s.names[id]; named {
			sec, ok = s.secrets[arn]
		}
	}
	if !ok {
		return nil, notFound()
	}
	if sec.deleted {
		return nil, errorf("InvalidRequestException", "You can't perform this operation on the secret because it was marked for deletion.")
	}
	return sec, nil
}

func (s *Server) getSecretValue(body map[string]any) (map[string]any, *Fault) {
	sec, ferr := s.lookup(str(body, "SecretId"))
	if ferr != nil {
		return nil, ferr
	}
	var v *version
	switch id, stage := str(body, "VersionId"), str(body, "VersionStage"); {
	case id != "":
		for _, cand := range sec.versions {
			if cand.id == id && (stage == "" || slices.Contains(cand.stages, stage)) {
				v = cand
			}
		}
	case stage != "":
		v = sec.byStage(stage)
	default:
		v = sec.byStage(StageCurrent)
	}
	if v == nil {
		return nil, errorf("ResourceNotFoundException", "Secrets Manager can't find the specified secret value for the requested version or staging label.")
	}
	return map[string]any{
		"ARN":           sec.arn,
		"Name":          sec.name,
		"VersionId":     v.id,
		"SecretString":  v.value,
		"VersionStages": slices.Clone(v.stages),
		"CreatedDate":   float64(sec.created.UnixMilli()) / 1000,
	}, nil
}

// putSecretValue adds a version that becomes AWSCURRENT; the previous
// current one becomes AWSPREVIOUS, as a rotation does.
func (s *Server) putSecretValue(body map[string]any) (map[string]any, *Fault) {
	sec, ferr := s.lookup(str(body, "SecretId"))
	if ferr != nil {
		return nil, ferr
	}
	value, ok := body["SecretString"].(string)
	if !ok {
		return nil, errorf("InvalidParameterException", "smfake stores SecretString values only.")
	}
	for _, v := range sec.versions {
		v.stages = slices.DeleteFunc(v.stages, func(st string) bool { return st == StagePrevious })
		if i := slices.Index(v.stages, StageCurrent); i >= 0 {
			v.stages[i] = StagePrevious
		}
	}
	v := &version{id: uuid(), value: value, stages: []string{StageCurrent}}
	if token := str(body, "ClientRequestToken"); token != "" {
		v.id = token
	}
	sec.versions = append(sec.versions, v)
	return map[string]any{"ARN": sec.arn, "Name": sec.name, "VersionId": v.id, "VersionStages": slices.Clone(v.stages)}, nil
}

// deleteSecret marks the secret deleted (it can no longer be read); with
// ForceDeleteWithoutRecovery the name is free again at once.
func (s *Server) deleteSecret(body map[string]any) (map[string]any, *Fault) {
	sec, ferr := s.lookup(str(body, "SecretId"))
	if ferr != nil {
		return nil, ferr
	}
	sec.deleted = true
	if force, _ := body["ForceDeleteWithoutRecovery"].(bool); force {
		delete(s.secrets, sec.arn)
		delete(s.names, sec.name)
	}
	return map[string]any{"ARN": sec.arn, "Name": sec.name, "DeletionDate": float64(time.Now().Unix())}, nil
}

// writeError writes Secrets Manager's error document.
func writeError(w http.ResponseWriter, f *Fault) {
	status := f.HTTPStatus
	if status == 0 {
		status = http.StatusBadRequest
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("X-Amzn-Errortype", f.Code)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": f.Code, "Message": f.Message})
}
