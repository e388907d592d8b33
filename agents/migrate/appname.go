package migrate

import "github.com/tenantfleet/tenantfleet/tenants/migrations"

// ApplicationName is the application_name of the runner's tenant sessions
// while they migrate, so load sources can tell them from the load the
// runner throttles on (pgstat.Config.IgnoreApplications).
const ApplicationName = migrations.ApplicationName
