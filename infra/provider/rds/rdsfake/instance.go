package rdsfake

import (
	"encoding/xml"
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"
)

// DB instance statuses the fake uses on its own; a test may set any other
// RDS status word with SetStatus.
const (
	StatusCreating  = "creating"
	StatusAvailable = "available"
	StatusDeleting  = "deleting"
	StatusFailed    = "failed"
)

// Instance is the fake's state for one DB instance.
type Instance struct {
	Identifier               string
	Class                    string
	Engine                   string
	EngineVersion            string
	Status                   string
	DBName                   string
	MasterUsername           string
	AllocatedStorage         int
	MaxAllocatedStorage      int
	Port                     int
	StorageEncrypted         bool
	KMSKeyID                 string
	ManageMasterUserPassword bool
	// SecretArn is the managed master password secret, set when
	// ManageMasterUserPassword is.
	SecretArn          string
	SubnetGroup        string
	SecurityGroupIDs   []string
	MultiAZ            bool
	PubliclyAccessible bool
	BackupRetention    int
	// Host, when set, is the endpoint address reported instead of the
	// fake's DNS name (SetEndpoint), so clients reach a real server.
	Host string
	Tags map[string]string
	// ReplicaOf is the source identifier of a read replica.
	ReplicaOf string
	// Replicas are the identifiers of this instance's read replicas.
	Replicas  []string
	CreatedAt time.Time
}

func (i Instance) clone() Instance {
	i.SecurityGroupIDs = slices.Clone(i.SecurityGroupIDs)
	i.Tags = maps.Clone(i.Tags)
	i.Replicas = slices.Clone(i.Replicas)
	return i
}

// Address is the endpoint host name the fake reports once an instance has
// left the creating state: Host when set, else an RDS-like DNS name.
func (i Instance) Address() string {
	if i.Host != "" {
		return i.Host
	}
	return fmt.Sprintf("%s.cfake0000000.%s.rds.amazonaws.com", i.Identifier, Region)
}

// xmlDBInstance is the DBInstance element of the RDS API.
type xmlDBInstance struct {
	DBInstanceIdentifier                  string
	DBInstanceArn                         string
	DBInstanceClass                       string `xml:",omitempty"`
	Engine                                string `xml:",omitempty"`
	EngineVersion                         string `xml:",omitempty"`
	DBInstanceStatus                      string
	MasterUsername                        string       `xml:",omitempty"`
	DBName                                string       `xml:",omitempty"`
	Endpoint                              *xmlEndpoint `xml:",omitempty"`
	AllocatedStorage                      int
	MaxAllocatedStorage                   int    `xml:",omitempty"`
	InstanceCreateTime                    string `xml:",omitempty"`
	BackupRetentionPeriod                 int
	MultiAZ                               bool
	PubliclyAccessible                    bool
	StorageEncrypted                      bool
	KmsKeyId                              string             `xml:",omitempty"`
	DBSubnetGroup                         *xmlSubnetGroup    `xml:",omitempty"`
	VpcSecurityGroups                     []xmlSecurityGroup `xml:"VpcSecurityGroups>VpcSecurityGroupMembership"`
	ReadReplicaSourceDBInstanceIdentifier string             `xml:",omitempty"`
	ReadReplicaDBInstanceIdentifiers      []string           `xml:"ReadReplicaDBInstanceIdentifiers>ReadReplicaDBInstanceIdentifier"`
	MasterUserSecret                      *xmlSecret         `xml:",omitempty"`
	TagList                               []xmlTag           `xml:"TagList>Tag"`
}

type xmlEndpoint struct {
	Address      string
	Port         int
	HostedZoneId string
}

type xmlSubnetGroup struct {
	DBSubnetGroupName string
}

type xmlSecurityGroup struct {
	VpcSecurityGroupId string
	Status             string
}

type xmlSecret struct {
	SecretArn    string
	SecretStatus string
	KmsKeyId     string `xml:",omitempty"`
}

type xmlTag struct {
	Key   string
	Value string
}

func (i Instance) xml() xmlDBInstance {
	x := xmlDBInstance{
		DBInstanceIdentifier:                  i.Identifier,
		DBInstanceArn:                         fmt.Sprintf("arn:aws:rds:%s:%s:db:%s", Region, accountID, i.Identifier),
		DBInstanceClass:                       i.Class,
		Engine:                                i.Engine,
		EngineVersion:                         i.EngineVersion,
		DBInstanceStatus:                      i.Status,
		MasterUsername:                        i.MasterUsername,
		DBName:                                i.DBName,
		AllocatedStorage:                      i.AllocatedStorage,
		MaxAllocatedStorage:                   i.MaxAllocatedStorage,
		BackupRetentionPeriod:                 i.BackupRetention,
		MultiAZ:                               i.MultiAZ,
		PubliclyAccessible:                    i.PubliclyAccessible,
		StorageEncrypted:                      i.StorageEncrypted,
		KmsKeyId:                              i.KMSKeyID,
		ReadReplicaSourceDBInstanceIdentifier: i.ReplicaOf,
		ReadReplicaDBInstanceIdentifiers:      i.Replicas,
	}
	if !i.CreatedAt.IsZero() {
		x.InstanceCreateTime = i.CreatedAt.UTC().Format(time.RFC3339)
	}
	// Like RDS, no endpoint until the instance has been created.
	if i.Status != StatusCreating {
		x.Endpoint = &xmlEndpoint{Address: i.Address(), Port: i.Port, HostedZoneId: "ZFAKE00000000"}
	}
	if i.SubnetGroup != "" {
		x.DBSubnetGroup = &xmlSubnetGroup{DBSubnetGroupName: i.SubnetGroup}
	}
	for _, id := range i.SecurityGroupIDs {
		x.VpcSecurityGroups = append(x.VpcSecurityGroups, xmlSecurityGroup{VpcSecurityGroupId: id, Status: "active"})
	}
	if i.SecretArn != "" {
		x.MasterUserSecret = &xmlSecret{SecretArn: i.SecretArn, SecretStatus: "active", KmsKeyId: i.KMSKeyID}
	}
	keys := make([]string, 0, len(i.Tags))
	for k := range i.Tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		x.TagList = append(x.TagList, xmlTag{Key: k, Value: i.Tags[k]})
	}
	return x
}

// dbInstanceResult is the Result element of the actions that return one
// DBInstance.
type dbInstanceResult struct {
	DBInstance xmlDBInstance
}

// describeResult is DescribeDBInstancesResult.
type describeResult struct {
	Marker      string          `xml:",omitempty"`
	DBInstances []xmlDBInstance `xml:"DBInstances>DBInstance"`
}

// errorEnvelope is the <ErrorResponse> document.
type errorEnvelope struct {
	XMLName   xml.Name `xml:"ErrorResponse"`
	Xmlns     string   `xml:"xmlns,attr"`
	Error     xmlError
	RequestID string `xml:"RequestId"`
}

type xmlError struct {
	Type    string
	Code    string
	Message string
}
