package rdsfake

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// identifierPattern is RDS's rule for DB instance identifiers: 1 to 63
// letters, digits or hyphens, starting with a letter, with no two
// consecutive hyphens and no trailing hyphen.
var identifierPattern = regexp.MustCompile(`^[a-zA-Z]([a-zA-Z0-9]|-[a-zA-Z0-9]){0,62}$`)

// apiError is a fault raised by a handler.
type apiError = Fault

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{HTTPStatus: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func notFound(id string) *apiError {
	return errorf(http.StatusNotFound, "DBInstanceNotFound", "DBInstance %s not found.", id)
}

func invalidParam(format string, args ...any) *apiError {
	return errorf(http.StatusBadRequest, "InvalidParameterValue", format, args...)
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, "", errorf(http.StatusBadRequest, "MalformedQueryString", "read body: %v", err))
		return
	}
	params, err := url.ParseQuery(string(body))
	if r.Method != http.MethodPost || err != nil {
		writeError(w, "", errorf(http.StatusBadRequest, "MalformedQueryString", "want a form-encoded POST"))
		return
	}
	action := params.Get("Action")

	s.mu.Lock()
	if q := s.hooks[action]; len(q) > 0 {
		fn := q[0]
		s.hooks[action] = q[1:]
		s.mu.Unlock()
		fn()
		s.mu.Lock()
	}
	s.seq++
	reqID := fmt.Sprintf("00000000-0000-0000-0000-%012d", s.seq)
	s.requests = append(s.requests, Request{Action: action, Params: cloneValues(params)})
	if q := s.faults[action]; len(q) > 0 {
		f := q[0]
		s.faults[action] = q[1:]
		s.mu.Unlock()
		writeError(w, reqID, &f)
		return
	}
	result, ferr := s.dispatch(action, Request{Action: action, Params: params})
	s.mu.Unlock()

	if ferr != nil {
		writeError(w, reqID, ferr)
		return
	}
	writeResult(w, reqID, action, result)
}

// dispatch runs one action with s.mu held.
func (s *Server) dispatch(action string, r Request) (any, *apiError) {
	if v := r.Get("Version"); v != APIVersion {
		return nil, errorf(http.StatusBadRequest, "InvalidParameterValue", "unsupported Version %q", v)
	}
	switch action {
	case "CreateDBInstance":
		return s.createDBInstance(r)
	case "DescribeDBInstances":
		return s.describeDBInstances(r)
	case "DeleteDBInstance":
		return s.deleteDBInstance(r)
	case "CreateDBInstanceReadReplica":
		return s.createReadReplica(r)
	default:
		return nil, errorf(http.StatusBadRequest, "InvalidAction", "The action %s is not valid for this web service.", action)
	}
}

func (s *Server) createDBInstance(r Request) (any, *apiError) {
	id := r.Get("DBInstanceIdentifier")
	for _, p := range []string{"DBInstanceIdentifier", "DBInstanceClass", "Engine"} {
		if r.Get(p) == "" {
			return nil, errorf(http.StatusBadRequest, "MissingParameter", "The request must contain the parameter %s", p)
		}
	}
	if !identifierPattern.MatchString(id) {
		return nil, invalidParam("The parameter DBInstanceIdentifier is not a valid identifier. Identifiers must begin with a letter; must contain only ASCII letters, digits, and hyphens; and must not end with a hyphen or contain two consecutive hyphens.")
	}
	key := strings.ToLower(id)
	if _, ok := s.instances[key]; ok {
		return nil, errorf(http.StatusBadRequest, "DBInstanceAlreadyExists", "DB instance already exists")
	}
	managed := r.Get("ManageMasterUserPassword") == "true"
	if managed && r.Get("MasterUserPassword") != "" {
		return nil, errorf(http.StatusBadRequest, "InvalidParameterCombination", "ManageMasterUserPassword and MasterUserPassword are mutually exclusive")
	}
	if !managed && r.Get("MasterUserPassword") == "" {
		return nil, errorf(http.StatusBadRequest, "InvalidParameterValue", "The parameter MasterUserPassword is not a valid password because it is shorter than 8 characters.")
	}
	storage, err := intParam(r, "AllocatedStorage", 20)
	if err != nil {
		return nil, err
	}
	maxStorage, err := intParam(r, "MaxAllocatedStorage", 0)
	if err != nil {
		return nil, err
	}
	port, err := intParam(r, "Port", 5432)
	if err != nil {
		return nil, err
	}
	backup, err := intParam(r, "BackupRetentionPeriod", 1)
	if err != nil {
		return nil, err
	}
	inst := &Instance{
		Identifier:               key,
		Class:                    r.Get("DBInstanceClass"),
		Engine:                   r.Get("Engine"),
		EngineVersion:            r.Get("EngineVersion"),
		Status:                   StatusCreating,
		DBName:                   r.Get("DBName"),
		MasterUsername:           r.Get("MasterUsername"),
		AllocatedStorage:         storage,
		MaxAllocatedStorage:      maxStorage,
		Port:                     port,
		StorageEncrypted:         r.Get("StorageEncrypted") == "true",
		KMSKeyID:                 r.Get("KmsKeyId"),
		ManageMasterUserPassword: managed,
		SubnetGroup:              r.Get("DBSubnetGroupName"),
		SecurityGroupIDs:         r.List("VpcSecurityGroupIds.VpcSecurityGroupId"),
		MultiAZ:                  r.Get("MultiAZ") == "true",
		PubliclyAccessible:       r.Get("PubliclyAccessible") == "true",
		BackupRetention:          backup,
		Tags:                     r.Tags(),
		CreatedAt:                time.Now(),
	}
	if inst.KMSKeyID != "" && !inst.StorageEncrypted {
		return nil, errorf(http.StatusBadRequest, "InvalidParameterCombination", "KmsKeyId requires StorageEncrypted")
	}
	if managed {
		inst.SecretArn = fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:rds!db-%s-%06d", Region, accountID, key, s.seq)
		if s.managedSecrets != nil {
			arn, err := s.managedSecrets(key, inst.MasterUsername)
			if err != nil {
				return nil, &apiError{HTTPStatus: http.StatusInternalServerError, Code: "InternalFailure",
					Message: fmt.Sprintf("create the master user secret: %v", err), Type: "Receiver"}
			}
			inst.SecretArn = arn
		}
	}
	s.instances[key] = inst
	return dbInstanceResult{DBInstance: inst.xml()}, nil
}

func (s *Server) describeDBInstances(r Request) (any, *apiError) {
	var out describeResult
	if id := r.Get("DBInstanceIdentifier"); id != "" {
		inst, ok := s.instances[strings.ToLower(id)]
		if !ok {
			return nil, notFound(id)
		}
		out.DBInstances = []xmlDBInstance{inst.xml()}
		return out, nil
	}
	ids := make([]string, 0, len(s.instances))
	for id := range s.instances {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		out.DBInstances = append(out.DBInstances, s.instances[id].xml())
	}
	return out, nil
}

func (s *Server) deleteDBInstance(r Request) (any, *apiError) {
	id := r.Get("DBInstanceIdentifier")
	inst, ok := s.instances[strings.ToLower(id)]
	if !ok {
		return nil, notFound(id)
	}
	skip := r.Get("SkipFinalSnapshot") == "true"
	snap := r.Get("FinalDBSnapshotIdentifier")
	switch {
	case inst.ReplicaOf != "" && snap != "":
		return nil, errorf(http.StatusBadRequest, "InvalidParameterCombination", "FinalDBSnapshotIdentifier can not be specified when deleting a replica instance")
	case inst.ReplicaOf != "":
		// RDS takes no final snapshot of a replica, whatever SkipFinalSnapshot says.
	case skip && snap != "":
		return nil, errorf(http.StatusBadRequest, "InvalidParameterCombination", "FinalDBSnapshotIdentifier can not be specified when deleting an instance with SkipFinalSnapshot set to true")
	case !skip && snap == "":
		return nil, errorf(http.StatusBadRequest, "InvalidParameterCombination", "FinalDBSnapshotIdentifier is required unless SkipFinalSnapshot is specified")
	case !skip && !identifierPattern.MatchString(snap):
		return nil, invalidParam("The parameter FinalDBSnapshotIdentifier is not a valid identifier.")
	}
	if inst.Status == StatusDeleting {
		return nil, errorf(http.StatusBadRequest, "InvalidDBInstanceState", "Instance %s is already being deleted.", id)
	}
	inst.Status = StatusDeleting
	return dbInstanceResult{DBInstance: inst.xml()}, nil
}

func (s *Server) createReadReplica(r Request) (any, *apiError) {
	id := r.Get("DBInstanceIdentifier")
	srcID := r.Get("SourceDBInstanceIdentifier")
	for _, p := range []string{"DBInstanceIdentifier", "SourceDBInstanceIdentifier"} {
		if r.Get(p) == "" {
			return nil, errorf(http.StatusBadRequest, "MissingParameter", "The request must contain the parameter %s", p)
		}
	}
	if !identifierPattern.MatchString(id) {
		return nil, invalidParam("The parameter DBInstanceIdentifier is not a valid identifier.")
	}
	src, ok := s.instances[strings.ToLower(srcID)]
	if !ok {
		return nil, notFound(srcID)
	}
	key := strings.ToLower(id)
	if _, ok := s.instances[key]; ok {
		return nil, errorf(http.StatusBadRequest, "DBInstanceAlreadyExists", "DB instance already exists")
	}
	if src.Status != StatusAvailable {
		return nil, errorf(http.StatusBadRequest, "InvalidDBInstanceState", "DB Instance %s is not in available state.", srcID)
	}
	class := r.Get("DBInstanceClass")
	if class == "" {
		class = src.Class
	}
	inst := &Instance{
		Identifier:         key,
		Class:              class,
		Engine:             src.Engine,
		EngineVersion:      src.EngineVersion,
		Status:             StatusCreating,
		DBName:             src.DBName,
		MasterUsername:     src.MasterUsername,
		AllocatedStorage:   src.AllocatedStorage,
		Port:               src.Port,
		StorageEncrypted:   src.StorageEncrypted,
		KMSKeyID:           src.KMSKeyID,
		SubnetGroup:        src.SubnetGroup,
		SecurityGroupIDs:   slices.Clone(src.SecurityGroupIDs),
		PubliclyAccessible: r.Get("PubliclyAccessible") == "true",
		Tags:               r.Tags(),
		ReplicaOf:          src.Identifier,
		CreatedAt:          time.Now(),
	}
	if v := r.List("VpcSecurityGroupIds.VpcSecurityGroupId"); len(v) > 0 {
		inst.SecurityGroupIDs = v
	}
	src.Replicas = append(src.Replicas, key)
	s.instances[key] = inst
	return dbInstanceResult{DBInstance: inst.xml()}, nil
}

func intParam(r Request, key string, def int) (int, *apiError) {
	v := r.Get(key)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, invalidParam("Invalid value %q for parameter %s", v, key)
	}
	return n, nil
}

// writeResult writes <ActionResponse><ActionResult>…</ActionResult>
// <ResponseMetadata>…</ResponseMetadata></ActionResponse>.
func writeResult(w http.ResponseWriter, reqID, action string, result any) {
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(&buf)
	root := xml.StartElement{
		Name: xml.Name{Local: action + "Response"},
		Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: Namespace}},
	}
	meta := struct {
		RequestID string `xml:"RequestId"`
	}{reqID}
	err := enc.EncodeToken(root)
	if err == nil {
		err = enc.EncodeElement(result, xml.StartElement{Name: xml.Name{Local: action + "Result"}})
	}
	if err == nil {
		err = enc.EncodeElement(meta, xml.StartElement{Name: xml.Name{Local: "ResponseMetadata"}})
	}
	if err == nil {
		err = enc.EncodeToken(root.End())
	}
	if err == nil {
		err = enc.Flush()
	}
	if err != nil {
		writeError(w, reqID, errorf(http.StatusInternalServerError, "InternalFailure", "encode response: %v", err))
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("X-Amzn-Requestid", reqID)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}

// writeError writes RDS's <ErrorResponse> document.
func writeError(w http.ResponseWriter, reqID string, f *apiError) {
	status := f.HTTPStatus
	if status == 0 {
		status = http.StatusBadRequest
	}
	typ := f.Type
	if typ == "" {
		typ = "Sender"
	}
	doc := errorEnvelope{
		Xmlns:     Namespace,
		Error:     xmlError{Type: typ, Code: f.Code, Message: f.Message},
		RequestID: reqID,
	}
	body, err := xml.Marshal(doc)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	if reqID != "" {
		w.Header().Set("X-Amzn-Requestid", reqID)
	}
	w.WriteHeader(status)
	_, _ = w.Write(append([]byte(xml.Header), body...))
}
