// Package provision is the provisioning agent: it onboards tenants (the
// tenant:onboard saga), creates and polls instances (instance:create,
// instance:check), places shared tenants by capacity, offboards and purges
// tenants (tenant:offboard, tenant:purge, each carrying out one request
// stored by agents/offboard), and onboards an offboarded tenant again, with
// a fresh schema or its archived one restored.
//
// Every handler is idempotent. The onboarding saga records its progress in
// the control plane (tenant_onboarding) and each step checks what exists
// before acting, so a worker killed at any step finishes the job on retry
// without duplicating or orphaning a role, schema or database. One attempt
// at a time works on a tenant: a lease with a random token per attempt,
// renewed while the work runs, never taken over while live, and fencing the
// saga's last transaction. Long
// provider operations never block a worker: instance:create starts them and
// instance:check polls with ProcessIn.
package provision
