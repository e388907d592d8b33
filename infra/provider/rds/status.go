package rds

import "github.com/tenantfleet/tenantfleet/infra/provider"

// mapStatus maps an RDS DBInstanceStatus to a provider.Status and a reason.
// The reason is empty for "available" and carries the RDS word otherwise.
//
// States in which the instance serves (backing-up, modifying, upgrading…)
// are ready; states it cannot leave without an operator (failed,
// storage-full, incompatible-*, inaccessible-encryption-credentials*,
// stopped…) are failed; states not known here map to creating, so a caller
// keeps polling and places nothing on the instance.
func mapStatus(rdsStatus string) (provider.Status, string) {
	switch rdsStatus {
	case "available":
		return provider.StatusReady, ""
	case "creating":
		return provider.StatusCreating, ""
	case "backing-up", "configuring-enhanced-monitoring", "configuring-iam-database-auth",
		"configuring-log-exports", "maintenance", "modifying", "rebooting", "renaming",
		"resetting-master-credentials", "storage-optimization", "storage-config-upgrade",
		"upgrading", "starting", "converting-to-vpc", "moving-to-vpc", "storage-initialization":
		return provider.StatusReady, "rds status " + rdsStatus
	case "deleting", "delete-precheck":
		return provider.StatusDeleting, ""
	case "failed", "storage-full", "incompatible-network", "incompatible-option-group",
		"incompatible-parameters", "incompatible-restore", "incompatible-credentials",
		"inaccessible-encryption-credentials", "inaccessible-encryption-credentials-recoverable",
		"insufficient-capacity", "restore-error", "stopped", "stopping":
		return provider.StatusFailed, "rds status " + rdsStatus
	default:
		return provider.StatusCreating, "unknown rds status " + rdsStatus
	}
}
